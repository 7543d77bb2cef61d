"""The pipeline's own logic, without servers: the transform's record handling, the held-out slice, changed rows,
the summary table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from esteira_extract.spec import load_spec
from pipeline import model, serving, source
from pipeline.options import DEMO_SPEC
from pipeline.report import STAGES, summary_table
from pipeline.stages import dataset as dataset_stage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline"
DEMO_SELECT = load_spec(str(DEMO_SPEC)).source.select_sql()


def test_transform_filters_strip_the_record_id_and_keep_id_label_score() -> None:
    # GIVEN a batch input line (record id, then features) and the model's answer for it
    line = "F0000042,5123.5,3,,1"
    # WHEN the input filter $[1:] and, after joining, the output filter $[0,-2,-1] apply
    sent = serving.input_filter(line)
    kept = serving.output_filter(f"{line},1,0.734")
    # THEN the model sees only the features (an empty field stays empty) and the output is id,label,score
    assert sent == "5123.5,3,,1"
    assert kept == "F0000042,1,0.734"


def test_mini_batches_respect_the_payload_limit_and_cover_every_line_in_order() -> None:
    # GIVEN 100 records of 10 bytes each once filtered (9 characters + newline)
    lines = [f"id{i:03d},{i:09d}" for i in range(100)]
    # WHEN packed into mini-batches of at most 95 bytes
    slices = list(serving.mini_batches(lines, 95))
    # THEN each holds 9 records (90 bytes), the last the remaining 1, in order, with no gap
    assert [end - start for start, end in slices] == [9] * 11 + [1]
    assert [s for s, _ in slices[1:]] == [e for _, e in slices[:-1]]
    assert slices[0][0] == 0 and slices[-1][1] == 100


def test_a_record_larger_than_the_payload_limit_goes_alone() -> None:
    lines = ["a,1", "b," + "9" * 50, "c,2"]
    assert list(serving.mini_batches(lines, 10)) == [(0, 1), (1, 2), (2, 3)]


def test_train_layout_holds_each_split_as_a_channel_and_the_champion_as_model_files(tmp_path: Path) -> None:
    # GIVEN a dataset run's splits (Parquet parts beside Spark's checksum files) and a champion's model folder
    splits = {}
    for name in ("train", "validation", "holdout"):
        folder = tmp_path / "datasets" / name
        folder.mkdir(parents=True)
        pd.DataFrame({"matricula": [f"{name}-1"], "x": [1.0], "y": [0]}).to_parquet(folder / "part-0.parquet")
        (folder / ".part-0.parquet.crc").write_bytes(b"crc")
        splits[name] = folder
    champion = tmp_path / "champion"
    champion.mkdir()
    (champion / "model.ubj").write_bytes(b"model")
    # WHEN the SageMaker layout is written
    layout = model.write_train_layout(tmp_path / "ml", splits, {"target": "y", "id_column": "matricula"}, champion)
    # THEN each split is a channel with its Parquet parts only, the champion is a channel of model files
    for name in splits:
        assert [p.name for p in layout.channel(name).iterdir()] == ["part-0.parquet"]
        assert model.read_parquet_dir(layout.channel(name))["matricula"].tolist() == [f"{name}-1"]
    assert (layout.channel("champion") / "model.ubj").read_bytes() == b"model"
    config = json.loads((layout.config_dir / "inputdataconfig.json").read_text())
    assert set(config) == {"train", "validation", "holdout", "champion"}
    assert config["train"]["ContentType"] == "application/x-parquet" and "ContentType" not in config["champion"]
    assert json.loads((layout.config_dir / "hyperparameters.json").read_text())["id_column"] == "matricula"


def test_keys_that_changed_split_between_two_dataset_runs_are_counted(tmp_path: Path) -> None:
    # GIVEN two dataset runs where one key moved from train to holdout and one key is new
    def write(run: str, splits: dict[str, list[str]]) -> Path:
        for name in ("train", "validation", "holdout"):
            folder = tmp_path / run / name
            folder.mkdir(parents=True)
            pd.DataFrame({"k": splits.get(name, [])}, dtype="string").to_parquet(folder / "part-0.parquet")
        return tmp_path / run

    before = write("run_id=a", {"train": ["1", "2"], "holdout": ["3"]})
    after = write("run_id=b", {"train": ["1"], "holdout": ["3", "2"], "validation": ["4"]})
    # WHEN compared THEN exactly the moved key counts
    assert dataset_stage.split_of_keys(after, "k") == {"1": "train", "4": "validation", "3": "holdout", "2": "holdout"}
    assert dataset_stage._keys_moved(before, after, "k") == 1


def test_change_rows_updates_distinct_rows_and_moves_their_watermark_forward(tmp_path: Path) -> None:
    # GIVEN a demo source of 200 employees
    db = tmp_path / "hr.db"
    created = source.sqlite_source(db, 200, 42, 0, DEMO_SELECT)
    with sqlite3.connect(db) as conn:
        before = dict(conn.execute("SELECT id, atualizado_em FROM funcionarios").fetchall())
    # WHEN 15 rows are changed, then 15 more
    first = source.sqlite_source(db, 200, 42, 15, DEMO_SELECT)
    with sqlite3.connect(db) as conn:
        after_first = dict(conn.execute("SELECT id, atualizado_em FROM funcionarios").fetchall())
    second = source.sqlite_source(db, 200, 42, 15, DEMO_SELECT)
    with sqlite3.connect(db) as conn:
        after_second = dict(conn.execute("SELECT id, atualizado_em FROM funcionarios").fetchall())
    # THEN exactly 15 rows carry a newer watermark than any demo row, each time, and the source was created once
    assert created.created and not first.created and first.changed == second.changed == 15
    changed_first = {i for i in before if after_first[i] != before[i]}
    changed_second = {i for i in before if after_second[i] != after_first[i]}
    assert len(changed_first) == len(changed_second) == 15
    assert min(after_first[i] for i in changed_first) > max(before.values())


def test_a_source_of_another_size_is_refused_rather_than_silently_reused(tmp_path: Path) -> None:
    db = tmp_path / "hr.db"
    source.sqlite_source(db, 150, 42, 0, DEMO_SELECT)
    with pytest.raises(source.SourceError, match="holds 150 employees but --rows is 300"):
        source.sqlite_source(db, 300, 42, 0, DEMO_SELECT)


def test_postgres_url_is_parsed_and_never_shows_the_password() -> None:
    url = source.PostgresUrl.parse("postgresql://reader:s3cr%40t@db.local:6543/rh")
    assert (url.host, url.port, url.database) == ("db.local", 6543, "rh")
    assert (url.username, url.password) == ("reader", "s3cr@t")
    assert url.jdbc_url == "jdbc:postgresql://db.local:6543/rh"
    assert "s3cr" not in repr(url)


def test_summary_table_shows_the_counts_and_every_stage() -> None:
    # GIVEN a recorded report WHEN rendered
    report = json.loads((FIXTURES / "report.json").read_text())
    text = summary_table(report)
    # THEN the counts and each stage's time are there
    assert "predictions lost" in text and "SUCCEEDED" in text
    for name in STAGES:
        assert f"  {name}" in text


@pytest.mark.parametrize(
    ("task", "metrics", "shown", "absent"),
    [
        ("regression", {"r2": 0.98, "rmse": 1.5, "mae": 1.1}, "r2 0.9800, rmse 1.5000, mae 1.1000", "auc"),
        ("multiclass", {"accuracy": 0.9, "f1": 0.8, "auc": 0.95}, "accuracy 0.9000, f1 macro 0.8000", "auc"),
        ("binary", {"auc": 0.9, "accuracy": 0.8, "f1": 0.5}, "auc 0.9000, accuracy 0.8000, f1 0.5000", "r2"),
    ],
)
def test_the_summary_shows_the_metrics_of_the_task_that_ran(
    task: str, metrics: dict[str, float], shown: str, absent: str
) -> None:
    # GIVEN a recorded report of a run of this task
    report = json.loads((FIXTURES / "report.json").read_text())
    report["task"] = task
    report["model"]["metrics"] = metrics
    # WHEN rendered THEN the model line names the task and shows its metrics, and no other task's
    line = next(line for line in summary_table(report).splitlines() if line.strip().startswith("model ("))
    assert f"model ({task})" in line and shown in line and absent not in line


def test_summary_table_shows_earlier_models_quality_the_alarm_and_the_retraining_decision() -> None:
    # GIVEN a second run's report: version 1's predictions joined with labels final since, the alarm's state
    report = json.loads((FIXTURES / "report.json").read_text())
    report["model_quality"] = {
        "models": [{"model_version": "1", "labelled_predictions": 651, "auc": 0.916019}],
        "alarm": {"state": "OK"},
    }
    report["retraining"] = {"summary": "retraining: not triggered (no violations, no quality alarm)"}
    # WHEN rendered
    text = summary_table(report)
    # THEN one line says how many labelled predictions each version has and its AUC, and the alarm's state
    assert "v1 651 labelled, auc 0.9160; alarm OK" in text
    assert "not triggered (no violations, no quality alarm)" in text


def test_summary_table_says_why_there_is_no_labelled_prediction_yet() -> None:
    # GIVEN a first run's report: nothing scored earlier
    report = json.loads((FIXTURES / "report.json").read_text())
    report["model_quality"] = {"models": [], "reason": "no scoring run has a scoring record"}
    # WHEN rendered THEN the line gives the report's reason
    assert "no labelled predictions yet (no scoring run has a scoring record)" in summary_table(report)
