"""The dataset job end to end on local Spark, over a curated lake laid out as the extraction job leaves it.

The outputs are read back without Spark (pyarrow, plain text), so the checks do not share the job's reader.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from esteira_dataset.job import DatasetError, main, run
from esteira_dataset.spec import parse_dataset_spec
from tests.glue_jobs.dataset_data import AS_OF, DEMO_FEATURES, Lake, config_drop_columns, demo_document, employee
from tests.glue_jobs.test_job_main import FAKE_AWSGLUE

SPLITS = ("train", "validation", "holdout")
FIRST_KEYS = range(1, 601)
CHANGED_KEYS = range(1, 151)
NEW_KEYS = range(601, 701)
ORPHAN_KEYS = range(1, 11)


def admitted(number: int) -> date:
    """A third of the employees were hired less than 12 months before the as-of day."""
    return date(2025, 1, 15) if number % 3 == 0 else date(2022, 3, 1) + timedelta(days=number)


def first_version(number: int) -> dict[str, Any]:
    updated = datetime(2025, 5, 1) + timedelta(minutes=number)
    return employee(number, admitted=admitted(number), updated=updated, label=int(number % 4 == 0))


def second_version(number: int) -> dict[str, Any]:
    """The change: more overtime, and some open cases leave (their label becomes final)."""
    row = first_version(number)
    changes: dict[str, Any] = {"horas_extras_mes": 100 + number % 50}
    if number % 3 == 0 and number % 2 == 0:
        changes["desligado_em_12_meses"] = 1
    # Half the changed rows keep their watermark (the source rewrote them in place): the later dt must win.
    if number % 2:
        changes["atualizado_em"] = row["atualizado_em"] + timedelta(days=30)
    return row | changes


def is_final(row: dict[str, Any]) -> bool:
    """The demo rule, in Python."""
    return bool(
        row["desligado_em_12_meses"] == 1 or row["data_admissao"] <= date(AS_OF.year - 1, AS_OF.month, AS_OF.day)
    )


def expected_split(key: str) -> str:
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10_000
    return "train" if bucket < 7000 else "validation" if bucket < 8500 else "holdout"


def read_split(lake: Lake, run_id: str, split: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(lake.run_dir(run_id) / split).to_pylist()
    return rows


def read_csv_lines(folder: Path) -> list[str]:
    assert not (folder / "_SUCCESS").exists()
    return [line for path in sorted(folder.glob("part-*.csv")) for line in path.read_text().splitlines()]


def feature_text(value: Any) -> str:
    """How Spark's CSV writer renders a feature value."""
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Scenario:
    lake: Lake
    first: dict[str, Any]  # manifest of the dataset run after extraction 1
    second: dict[str, Any]  # ... after extraction 2 (changed and new rows)
    latest: dict[str, dict[str, Any]]  # key -> the version the second run must keep


@pytest.fixture(scope="module")
def scenario(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    lake = Lake(tmp_path_factory.mktemp("dataset-lake"), demo_document())
    lake.write_run(spark, "2025-06-01", "ext-1", [first_version(n) for n in FIRST_KEYS])
    # A killed extraction's orphan (no manifest): newest watermarks, so it would win if it were read.
    orphan = [first_version(n) | {"atualizado_em": datetime(2026, 1, 1), "salario": -1.0} for n in ORPHAN_KEYS]
    lake.write_run(spark, "2025-06-03", "ext-orphan", orphan, committed=False)
    first = run(spark, lake.args("ds-1"))

    changed = [second_version(n) for n in CHANGED_KEYS]
    created = [first_version(n) for n in NEW_KEYS]
    lake.write_run(spark, "2025-06-02", "ext-2", changed + created)
    second = run(spark, lake.args("ds-2", batch_input_uri=str(lake.root / "batch-input")))

    latest = {r["matricula"]: r for r in [first_version(n) for n in FIRST_KEYS] + changed + created}
    yield Scenario(lake, first, second, latest)


def test_given_two_extractions_when_the_dataset_is_built_then_the_manifest_counts_are_the_files(
    scenario: Scenario,
) -> None:
    lake, manifest = scenario.lake, scenario.second
    spec = parse_dataset_spec(lake.document)

    assert manifest["status"] == "ok"
    for split in SPLITS:
        rows = read_split(lake, "ds-2", split)
        keys = [r["matricula"] for r in rows]
        assert manifest["counts"]["splits"][split] == {"rows": len(rows), "distinct_keys": len(set(keys))}
        assert len(keys) == len(set(keys)) > 0, f"a key is duplicated in {split}"
        assert list(rows[0]) == spec.columns, "every row carries exactly the curated columns, key included"
    baseline = read_csv_lines(lake.run_dir("ds-2") / "baseline")
    batch = read_csv_lines(lake.root / "batch-input" / "run_id=ds-2")
    assert manifest["counts"]["baseline"] == {"rows": len(baseline), "columns": len(DEMO_FEATURES)}
    assert manifest["counts"]["batch_input"] == {
        "rows": len(batch),
        "distinct_record_ids": len({line.split(",")[0] for line in batch}),
        "columns": 1 + len(DEMO_FEATURES),
    }
    assert manifest["counts"]["keys_in_more_than_one_split"] == 0
    assert manifest["counts"]["row_versions_read"] == len(FIRST_KEYS) + len(CHANGED_KEYS) + len(NEW_KEYS)
    assert manifest["counts"]["keys_latest"] == len(scenario.latest)
    assert manifest["input_runs"] == [
        {"dt": "2025-06-01", "run_id": "ext-1", "rows": len(FIRST_KEYS)},
        {"dt": "2025-06-02", "run_id": "ext-2", "rows": len(CHANGED_KEYS) + len(NEW_KEYS)},
    ]
    assert manifest["features"] == DEMO_FEATURES
    assert manifest["split_rule"]["cuts"] == [7000, 8500]
    assert manifest["as_of_date"] == AS_OF.isoformat()


def test_given_changed_rows_when_the_dataset_is_built_then_each_key_keeps_its_latest_version_only(
    scenario: Scenario,
) -> None:
    written = {r["matricula"]: r for s in SPLITS for r in read_split(scenario.lake, "ds-2", s)}

    final = {k: r for k, r in scenario.latest.items() if is_final(r)}
    assert set(written) == set(final), "exactly the keys with a final label are trained or evaluated on"
    for key, row in written.items():
        assert row["horas_extras_mes"] == final[key]["horas_extras_mes"], key
        assert row["desligado_em_12_meses"] == final[key]["desligado_em_12_meses"], key
        assert row["salario"] > 0, "the orphan run (no manifest) must not be read"


def test_given_two_runs_with_changed_rows_when_compared_then_no_key_moved_or_is_shared_and_splits_follow_the_hash(
    scenario: Scenario,
) -> None:
    where: dict[str, dict[str, str]] = {}
    for run_id in ("ds-1", "ds-2"):
        where[run_id] = {}
        for split in SPLITS:
            for row in read_split(scenario.lake, run_id, split):
                assert row["matricula"] not in where[run_id], f"{row['matricula']} in two splits of {run_id}"
                where[run_id][row["matricula"]] = split

    common = where["ds-1"].keys() & where["ds-2"].keys()
    moved = [k for k in common if where["ds-1"][k] != where["ds-2"][k]]
    assert len(common) > 300 and moved == []
    newly_final = where["ds-2"].keys() - where["ds-1"].keys()
    assert newly_final, "open cases that left (and new hires) join the splits in the second run"
    assert all(where["ds-2"][k] == expected_split(k) for k in where["ds-2"])


def test_given_open_cases_when_the_dataset_is_built_then_they_are_scored_in_the_transform_format(
    scenario: Scenario,
) -> None:
    lines = read_csv_lines(scenario.lake.root / "batch-input" / "run_id=ds-2")

    open_rows = {k: r for k, r in scenario.latest.items() if not is_final(r)}
    assert len(lines) == len(open_rows) > 0
    for line in lines:
        record_id, *features = line.split(",")
        assert features == [feature_text(open_rows[record_id][f]) for f in DEMO_FEATURES], line
    assert scenario.second["counts"]["keys_label_open"] == len(open_rows)


def test_given_the_train_split_when_the_baseline_is_written_then_it_is_its_features_in_schema_order(
    scenario: Scenario,
) -> None:
    train = read_split(scenario.lake, "ds-2", "train")

    baseline = read_csv_lines(scenario.lake.run_dir("ds-2") / "baseline")

    expected = sorted(",".join(feature_text(r[f]) for f in DEMO_FEATURES) for r in train)
    assert sorted(baseline) == expected
    assert not baseline[0].startswith("salario"), "no header: data capture records none"


def test_given_a_run_id_already_written_when_run_again_through_main_then_its_outputs_are_replaced(
    scenario: Scenario,
) -> None:
    # GIVEN a stray file in the run folder, as an earlier attempt could leave
    lake = scenario.lake
    args = lake.args("ds-2", batch_input_uri=str(lake.root / "batch-input"))
    stray = lake.run_dir("ds-2") / "train" / "part-stray.parquet"
    stray.write_bytes((next((lake.run_dir("ds-2") / "train").glob("part-*.parquet"))).read_bytes())
    argv = ["dataset_job.py"] + [part for item in args.to_args().items() for part in item]

    # WHEN the same run id runs again through the Glue script's entry point
    manifest = main(argv)

    # THEN the outputs and manifest are rewritten to the same counts, without the stray file
    assert not stray.exists()
    assert manifest["counts"] == scenario.second["counts"]
    assert lake.manifest("ds-2") == manifest


def test_given_a_batch_input_uri_or_none_when_run_then_rows_to_score_go_there_or_under_the_run_by_run_id(
    scenario: Scenario,
) -> None:
    lake = scenario.lake

    given, default = scenario.second["outputs"]["batch_input"], scenario.first["outputs"]["batch_input"]

    assert given == str(lake.root / "batch-input" / "run_id=ds-2")
    assert not (lake.run_dir("ds-2") / "batch-input").exists()
    assert default == str(lake.run_dir("ds-1") / "batch-input" / "run_id=ds-1")
    assert len(read_csv_lines(Path(default))) == scenario.first["counts"]["batch_input"]["rows"] > 0
    assert scenario.first["outputs"]["manifest"] == str(lake.run_dir("ds-1") / "manifest.json")


def test_given_no_committed_extraction_when_run_then_only_a_no_new_data_manifest_is_written(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Lake(tmp_path, demo_document())
    lake.write_run(spark, "2025-06-01", "ext-killed", [first_version(1)], committed=False)

    manifest = run(spark, lake.args("ds-empty"))

    assert manifest["status"] == "no_new_data"
    assert manifest["reason"] == "no committed extraction under curated_uri"
    assert manifest["input_runs"] == []
    assert [p.name for p in lake.run_dir("ds-empty").iterdir()] == ["manifest.json"]
    assert lake.manifest("ds-empty") == manifest


def test_given_only_open_cases_when_run_then_no_new_data_and_nothing_trained_on(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Lake(tmp_path, demo_document())
    new_hires = [n for n in range(3, 60, 3) if n % 4]  # hired in 2025, still there
    lake.write_run(spark, "2025-06-01", "ext-1", [first_version(n) for n in new_hires])

    manifest = run(spark, lake.args("ds-open"))

    assert (manifest["status"], manifest["reason"]) == ("no_new_data", "no key has a final label")
    assert manifest["counts"]["keys_label_open"] == len(new_hires)
    assert [p.name for p in lake.run_dir("ds-open").iterdir()] == ["manifest.json"]


def test_given_a_tombstone_rule_when_the_latest_version_is_deleted_then_the_key_is_in_no_output(
    spark: SparkSession, tmp_path: Path
) -> None:
    # GIVEN a spec whose curated rows carry a deletion flag, and a second extraction deleting five keys
    document = demo_document(tombstone_when="excluido = 1")
    document["output_columns"].append({"name": "excluido", "type": "int"})
    lake = Lake(tmp_path, document)
    rows = [first_version(n) | {"excluido": 0} for n in range(1, 121)]
    lake.write_run(spark, "2025-06-01", "ext-1", rows)
    deleted = [r | {"excluido": 1, "atualizado_em": datetime(2025, 6, 1)} for r in rows[:5]]
    lake.write_run(spark, "2025-06-02", "ext-2", deleted)

    # WHEN the dataset is built
    manifest = run(spark, lake.args("ds-t", drop_columns=(*config_drop_columns(), "excluido")))

    # THEN the deleted keys are gone from every split and from the batch input
    gone = {r["matricula"] for r in deleted}
    written = {r["matricula"] for s in SPLITS for r in read_split(lake, "ds-t", s)}
    scored = {line.split(",")[0] for line in read_csv_lines(lake.run_dir("ds-t") / "batch-input" / "run_id=ds-t")}
    assert not gone & (written | scored)
    assert len(written | scored) == 115
    assert manifest["counts"]["keys_tombstoned"] == 5


def test_given_too_few_labelled_keys_for_every_split_when_run_then_it_fails_clearly_and_leaves_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Lake(tmp_path, demo_document())
    lake.write_run(spark, "2025-06-01", "ext-1", [first_version(1), first_version(2)])

    with pytest.raises(DatasetError, match="2 labelled keys leave split"):
        run(spark, lake.args("ds-tiny"))

    assert not lake.run_dir("ds-tiny").exists()


def test_given_the_glue_runtime_when_main_runs_then_it_resolves_only_its_own_arguments(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stand-in for Glue's awsglue library, and one committed extraction that found no rows
    package = tmp_path / "fake_glue" / "awsglue"
    package.mkdir(parents=True)
    for name, text in FAKE_AWSGLUE.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(package.parent))
    for module in [m for m in sys.modules if m.startswith("awsglue")]:
        monkeypatch.delitem(sys.modules, module)
    lake = Lake(tmp_path / "lake", demo_document())
    lake.write_run(spark, "2025-06-01", "ext-empty", [])
    glue_own = ["--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--JOB_NAME", "esteira-dataset", "--TempDir", "s3://t/"]
    ours = [part for item in lake.args("exec-1").to_args().items() for part in item]

    # WHEN main() runs as Glue starts it
    try:
        manifest = main(["dataset_job.py", *glue_own, *ours])
    finally:
        for module in [m for m in sys.modules if m.startswith("awsglue")]:
            del sys.modules[module]

    # THEN the run is named by --run_id and ends cleanly as no new data
    assert (manifest["run_id"], manifest["status"]) == ("exec-1", "no_new_data")
    assert manifest["reason"] == "the committed extractions hold no rows"
    assert manifest["input_runs"] == [{"dt": "2025-06-01", "run_id": "ext-empty", "rows": 0}]
