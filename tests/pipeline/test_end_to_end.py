"""``python -m pipeline`` end to end, as a user runs it: two runs on one output folder, then a Ctrl-C.

Small size (``--rows 3000``) so it fits ``make test``, at the shipped thresholds: the config's gate (AUC 0.8) and the
smoke test's default match rate (0.8). The two runs send their Spark jobs to the session's warm local Glue runner
(``--glue-runner``, tests/warm_glue_runner.py); the Ctrl-C run starts its own, as a run does by default.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest

REPO = Path(__file__).resolve().parents[2]
ROWS = 3000
CHANGED = 40
SPLITS = ("train", "validation", "holdout")
MARKER_ENV = b"ESTEIRA_PIPELINE_MARKER="

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    report: dict[str, Any]


def run_pipeline(out: Path, *args: str) -> Run:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("SOURCE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--rows", str(ROWS), "--out", str(out), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads((out / "pipeline-report.json").read_text())
    return Run(done.returncode, done.stdout + done.stderr, report)


def split_keys(out: Path, run_id: str, key: str) -> dict[str, list[str]]:
    """The keys in each split's Parquet files, read here with pyarrow, independently of the pipeline's counts."""
    found = {}
    for split in SPLITS:
        files = sorted(str(p) for p in (out / "lake" / "datasets" / f"run_id={run_id}" / split).glob("*.parquet"))
        assert files, f"no Parquet files in {split} for {run_id}"
        table = pads.dataset(files, format="parquet").to_table()
        assert key in table.column_names
        found[split] = [str(v) for v in table.column(key).to_pylist()]
    return found


def live_processes_with_marker(marker: str) -> list[int]:
    """Independent of the pipeline's own check: every live process whose environment carries the run's marker."""
    wanted = MARKER_ENV + marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            zombie = "State:\tZ" in (entry / "status").read_text()
        except OSError:
            continue
        if wanted in environ and not zombie:
            found.append(int(entry.name))
    return found


def assert_nothing_left(report: dict[str, Any]) -> None:
    assert report["leftover_processes"] == []
    assert live_processes_with_marker(report["process_marker"]) == []
    for child in report["processes"]:
        status = Path(f"/proc/{child['pid']}/status")
        assert not status.exists() or "State:\tZ" in status.read_text()


def check_bias_and_explainability(report: dict[str, Any], dataset_run: str, stdout: str) -> None:
    """The report's bias and explainability sections, and Clarify's two analysis.json files they name."""
    bias, shap = report["bias"], report["explainability"]
    assert (bias["facets"][0]["facet"], bias["facets"][0]["value_or_threshold"]) == ("masculino", "1")
    assert [(f["facet"], f["value_or_threshold"]) for f in bias["facets"]] == [
        ("masculino", "1"),
        ("faixa_etaria", "3"),
    ]
    for facet in bias["facets"]:
        assert {"CI", "DPL", "KL", "JS", "KS"} <= set(facet["pre_training"])
        assert {"DI", "DPPL", "AD", "RD", "DAR", "DRR"} <= set(facet["post_training"])
    gate = bias["gate"]
    assert (gate["metric"], gate["range"]) == ("DI", [0.8, 1.25])
    # The gate judges a facet group only with min_facet_rows holdout rows in it and in the rest (sized from CI);
    # it passes when every judged group's DI is inside the band, and names the groups it did not judge
    for facet in bias["facets"]:
        assert facet["rows_d"] + facet["rows_a"] == bias["rows"]
        assert facet["judged"] is (min(facet["rows_d"], facet["rows_a"]) >= gate["min_facet_rows"])
        if not facet["judged"]:
            assert f"{facet['facet']}={facet['value_or_threshold']} not judged: n_" in gate["reason"]
    di = [f["post_training"]["DI"] for f in bias["facets"] if f["judged"]]
    assert gate["passed"] is all(isinstance(v, float) and 0.8 <= v <= 1.25 for v in di)
    clarify = Path(report["out"]) / "lake" / "monitoring" / "clarify" / f"run_id={dataset_run}"
    for kind, section in (("bias", bias), ("explainability", shap)):
        assert Path(section["analysis_uri"]) == clarify / kind / "analysis.json"
        assert Path(section["analysis_uri"]).is_file()
    assert [item["feature"] for item in shap["importance"]] and len(shap["importance"]) == len(
        report["model"]["features"]
    )
    assert "bias gate (Clarify's metrics, holdout)" in stdout and "SHAP importance (mean |SHAP|)" in stdout


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, glue_runner_socket: Path) -> tuple[Run, Run]:
    out = tmp_path_factory.mktemp("pipeline")
    warm = ("--glue-runner", str(glue_runner_socket))
    first = run_pipeline(out, "--fresh", *warm)
    assert first.code == 0, first.stdout[-4000:]
    second = run_pipeline(out, "--change-rows", str(CHANGED), *warm)
    assert second.code == 0, second.stdout[-4000:]
    return first, second


def test_first_run_extracts_everything_and_every_count_reconciles(two_runs: tuple[Run, Run]) -> None:
    # GIVEN a fresh output folder WHEN the pipeline runs
    report = two_runs[0].report
    ext, data, batch = report["extraction"], report["dataset"], report["batch"]

    # THEN the extraction is full and read every source row
    assert report["status"] == "succeeded"
    assert ext["incremental"] is False and ext["watermark_from"] is None
    assert ext["rows_read"] == ROWS
    assert ext["rows_extracted"] + ext["rows_quarantined"] == ROWS
    assert 0 < ext["rows_quarantined"] < ROWS * 0.05
    # AND the dataset job kept one version per key and split only the keys whose label is final
    splits = data["splits"]
    assert data["keys_latest"] == ext["rows_extracted"]
    assert data["keys_label_final"] + data["keys_label_open"] == data["keys_latest"]
    assert sum(split["rows"] for split in splits.values()) == data["keys_label_final"]
    assert data["keys_shared_between_splits"] == 0 and data["batch_input_rows"] > 0
    # AND the model passed the shipped gate, was registered and served
    gate = report["model"]["gate"]
    assert gate["passed"] is True and gate["champion"] is None and gate["threshold"] == 0.8
    assert gate["outcome"] == "registered"
    assert report["model"]["served_package_arn"] == report["model"]["registered_package_arn"]
    smoke = report["smoke_test"]
    assert smoke["rows"] == splits["holdout"]["rows"]
    assert smoke["match_rate"] >= smoke["min_match_rate"] == 0.8
    # AND the smoke test read the served package's dataset run, which serves the package's own predictions, and the
    # gate's metric clears the gate's threshold on its held-out rows
    assert smoke["dataset"].endswith(f"datasets/run_id={data['run_id']}")
    assert smoke["serves_package"] is True and smoke["mismatched_rows"] == 0
    assert (smoke["metric"], smoke["threshold"], smoke["metric_passed"]) == ("auc", 0.8, True)
    assert smoke["value"] >= 0.8 and smoke["passed"] is True
    # AND the registered package's baseline was computed from the train split's features and written where the
    # analyzer's job writes it; the holdout rows as serve is sent them (capture's format) parse against it
    baseline = report["baseline"]
    assert baseline["rows"] == splits["train"]["rows"]
    assert baseline["uri"].endswith(f"/monitoring/baselines/run_id={data['run_id']}/")
    assert [f["feature"] for f in baseline["features"]] == report["model"]["features"]
    assert baseline["capture_check"] == {"records": splits["holdout"]["rows"], "passed": True, "problems": []}
    # AND the run shows the retrain trigger's decision on its findings (no violations: not triggered)
    retraining = report["retraining"]
    assert retraining["decision"] == ("triggered" if retraining["violations"] else "not_triggered")
    # AND every row to score was predicted, delivered and stored: none lost
    assert batch["input_rows"] == batch["predicted"] == data["batch_input_rows"]
    assert batch["predicted"] == batch["delivered"] == batch["stored"]
    assert batch["lost"] == 0 and batch["dead_lettered"] == 0
    assert batch["fanout"]["sent"] == batch["predicted"] and batch["fanout"]["quarantined"] == 0
    # AND the batch launcher's launch() chose this run for the package just registered (the state machine's
    # ScoreBatch), and the transform ran the job it created, under the job's own run id
    assert (batch["input_rule"], batch["input_run_id"]) == ("named", data["run_id"])
    assert batch["model_package_arn"] == report["model"]["registered_package_arn"]
    assert batch["input_uri"].endswith(f"/batch-input/run_id={data['run_id']}/")
    assert batch["output_uri"].endswith(f"/batch-output/{batch['transform_run_id']}/")
    # AND Clarify's bias metrics of each configured facet and the candidate's SHAP values were computed on the
    # holdout, written where Clarify writes them, and the bias gate decided (passing, or the run could not serve)
    check_bias_and_explainability(report, data["run_id"], two_runs[0].stdout)
    # AND its predictions (the job's .out files, the launcher's scoring record) outlive the run's local S3: they are
    # in the lake, in the predictions bucket's layout, every scored record once
    kept = Path(batch["kept"]["folder"])
    assert kept == Path(report["out"]) / "lake" / "batch-output" / batch["transform_run_id"]
    scored = [line for part in kept.glob("*.out") for line in part.read_text().splitlines() if line]
    assert len(scored) == len({line.split(",")[0] for line in scored}) == batch["predicted"]
    record = json.loads((kept / "_scoring.json").read_text())
    assert (record["model_package_arn"], record["input_run_id"]) == (batch["model_package_arn"], data["run_id"])
    # AND every stage ran and took measurable time; the summary table was printed
    assert [stage["status"] for stage in report["stages"]] == ["ok"] * 13
    assert "predictions lost" in two_runs[0].stdout
    # AND the scored batch was compared with the served package's baseline, feature by feature
    drift = report["drift"]
    assert drift["baseline_statistics_uri"].startswith(baseline["uri"]) and drift["baseline_rows"] == baseline["rows"]
    assert drift["batch_rows"] == batch["input_rows"]
    assert [f["feature"] for f in drift["features"]] == report["model"]["features"]
    assert drift["flagged"] == [f["feature"] for f in drift["features"] if f["flagged"]]
    assert "drift (batch vs baseline)" in two_runs[0].stdout
    # AND report.html next to the JSON has one inline chart in each section, and the summary names it
    page = Path(report["html_report"]).read_text()
    assert Path(report["html_report"]) == Path(report["out"]) / "report.html"
    sections = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S))
    assert list(sections) == [
        "roc",
        "calibration",
        "scores",
        "drift",
        "bias",
        "explainability",
        "model-quality",
        "timings",
    ]
    assert all(body.count("<svg") == 1 for name, body in sections.items() if name != "model-quality")
    assert report["html_report"] in two_runs[0].stdout


def test_second_run_extracts_only_the_changed_rows(two_runs: tuple[Run, Run]) -> None:
    # GIVEN a first run WHEN the pipeline runs again after changing CHANGED source rows
    first, second = two_runs[0].report, two_runs[1].report
    ext = second["extraction"]

    # THEN the demo's clock moved on 30 days, and some employees whose label was open left in them
    assert second["status"] == "succeeded"
    assert first["source"]["clock"] == {"before": "2025-06-30", "today": "2025-06-30", "days": 0}
    assert second["source"]["clock"] == {"before": "2025-06-30", "today": "2025-07-30", "days": 30}
    assert second["source"]["changed"] == CHANGED and second["source"]["left"] > 0
    updated = second["source"]["rows_updated"]
    assert max(CHANGED, second["source"]["left"]) <= updated <= CHANGED + second["source"]["left"]
    # AND the extraction is incremental from the first run's watermark and reads exactly those rows
    assert ext["incremental"] is True
    assert ext["watermark_from"] == first["extraction"]["watermark_to"]
    assert ext["rows_read"] == updated
    assert ext["rows_extracted"] + ext["rows_quarantined"] == updated
    # AND the dataset keeps one version per key: the same keys, in the same splits
    data = second["dataset"]
    assert data["keys_latest"] == first["dataset"]["keys_latest"]
    assert data["row_versions_read"] == first["dataset"]["row_versions_read"] + ext["rows_extracted"]
    assert data["keys_shared_between_splits"] == 0 and data["keys_moved_split"] == 0
    assert data["previous_run"] == first["dataset"]["run_id"]
    # AND labels are judged as of the clock: more are final than a month before (those who left, those whose 12
    # months passed), fewer are left to score
    assert (first["dataset"]["as_of_date"], data["as_of_date"]) == ("2025-06-30", "2025-07-30")
    assert data["keys_label_final"] > first["dataset"]["keys_label_final"] + second["source"]["left"]
    assert data["keys_label_open"] < first["dataset"]["keys_label_open"]
    # AND the first run's model is the champion the gate compared against (restored from registry.json)
    gate = second["model"]["gate"]
    assert gate["champion"]["arn"] == first["model"]["registered_package_arn"]
    assert gate["decision"] in ("approved", "rejected, champion kept")
    # AND it reports the outcome the state machine ends with: a rejection is not a failure
    assert gate["outcome"] == ("registered" if gate["passed"] else "gate_rejected")
    # AND the batch launcher chose the run to score as on AWS: the state machine's ScoreBatch names this run for the
    # package it registered; the schedule scores a kept champion's own run
    batch = second["batch"]
    chosen = data if gate["passed"] else first["dataset"]
    assert batch["input_rule"] == ("named" if gate["passed"] else "package-run")
    assert batch["input_run_id"] == chosen["run_id"]
    assert batch["model_package_arn"] == second["model"]["served_package_arn"]
    # AND the predictions reconcile again
    assert batch["predicted"] == batch["delivered"] == batch["stored"] == chosen["batch_input_rows"]
    assert batch["lost"] == 0
    # AND the batch is compared with the served package's baseline (this run's, or the champion's it kept)
    assert [f["feature"] for f in second["drift"]["features"]] == second["model"]["features"]
    assert second["drift"]["model_package_arn"] == second["model"]["served_package_arn"]
    assert "<svg" in Path(second["html_report"]).read_text()
    # AND this run's candidate was analysed too, whether or not the gates kept it
    check_bias_and_explainability(second, data["run_id"], two_runs[1].stdout)


def test_the_second_run_reports_the_first_models_quality_on_the_labels_that_arrived_since(
    two_runs: tuple[Run, Run],
) -> None:
    first, second = (run.report for run in two_runs)
    out = Path(first["out"])
    # GIVEN the first run: none of the records it scored had a final label yet
    assert first["model_quality"]["models"] == [] and first["model_quality"]["labelled_predictions"] == 0
    assert first["model_quality"]["reason"]
    # WHEN a month passed in the demo and the second run's dataset job joined the first run's kept predictions with
    # the labels final as of its clock
    quality = second["model_quality"]
    models = {model["model_version"]: model for model in quality["models"]}
    version = first["batch"]["model_package_arn"].rsplit("/", 1)[1]
    # THEN the first run's model version has labelled predictions, from the first run's transform
    assert version in models, quality
    judged = models[version]
    assert judged["labelled_predictions"] > 0 and judged["scoring_runs"] == [first["batch"]["transform_run_id"]]
    # AND they are exactly the first run's scored keys whose label the second run's splits hold (final since), with
    # their labels; read here from the kept .out files and the splits' Parquet files
    kept = Path(first["batch"]["kept"]["folder"])
    scored = {line.split(",")[0] for part in kept.glob("*.out") for line in part.read_text().splitlines() if line}
    run_dir = out / "lake" / "datasets" / f"run_id={second['dataset']['run_id']}"
    table = pads.dataset(sorted(str(p) for p in run_dir.glob("*/*.parquet")), format="parquet").to_table()
    label = json.loads((run_dir / "manifest.json").read_text())["label_column"]
    labels = dict(zip(table.column("matricula").to_pylist(), table.column(label).to_pylist(), strict=True))
    final_scored = scored & set(labels)
    assert judged["labelled_predictions"] == len(final_scored)
    assert judged["positives"] == sum(int(labels[k]) for k in final_scored) > 0
    assert judged["auc"] is not None and 0.0 <= judged["auc"] <= 1.0
    # AND, as on AWS, the publisher Lambda's logic put them in (moto's) CloudWatch and the alarm's rule judged them
    assert quality["published"]["read_back"]["value"] == quality["published"]["latest_labelled_predictions"]
    assert quality["alarm"]["state"] in ("OK", "ALARM", "INSUFFICIENT_DATA"), quality["alarm"]
    # AND report.html shows it: the first run says why there is nothing yet, the second charts it
    for report, charts_expected in ((first, 0), (second, 1)):
        page = (out / "runs" / report["run_id"] / "report.html").read_text()  # the run's own copy
        section = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S))["model-quality"]
        assert section.count("<svg") == charts_expected


def test_the_splits_on_disk_never_share_duplicate_or_move_a_key(two_runs: tuple[Run, Run]) -> None:
    # GIVEN the two runs' dataset folders, read back from their Parquet files
    first, second = (run.report for run in two_runs)
    out, key = Path(first["out"]), "matricula"
    before = split_keys(out, first["dataset"]["run_id"], key)
    after = split_keys(out, second["dataset"]["run_id"], key)
    for keys in (before, after):
        # THEN no key is duplicated within a split, nor found in two splits
        assert all(len(set(values)) == len(values) for values in keys.values())
        assert len(set().union(*map(set, keys.values()))) == sum(len(values) for values in keys.values())
    # AND no key moved split between the runs
    where = {k: split for split, values in before.items() for k in values}
    assert [k for split, values in after.items() for k in values if where.get(k, split) != split] == []
    # AND each run wrote its batch input
    for report in (first, second):
        folder = out / "lake" / "batch-input" / f"run_id={report['dataset']['run_id']}"
        assert sum(1 for part in folder.glob("*.csv") for line in part.read_text().splitlines() if line) > 0


def test_each_package_records_the_spec_and_feature_schema_of_its_dataset_run(two_runs: tuple[Run, Run]) -> None:
    # GIVEN the packages the two runs registered (registry.json) and their dataset runs' manifests on disk
    out = Path(two_runs[0].report["out"])
    (registry,) = (out / "registry").glob("*.json")
    packages = json.loads(registry.read_text())["packages"]
    assert packages
    for package in packages:
        metadata = package["customer_metadata"]
        run_id = metadata["lineage.dataset"].rstrip("/").rpartition("run_id=")[2]
        manifest = json.loads((out / "lake" / "datasets" / f"run_id={run_id}" / "manifest.json").read_text())
        # THEN each records them as the state machine's Register does: the spec and the SHA-256 of the manifest's
        # features as compact JSON (States.Hash(States.JsonToString(features)), see test_training_execution.py)
        assert metadata["lineage.spec"] == manifest["spec_name"]
        compact = json.dumps(manifest["features"], separators=(",", ":")).encode()
        assert metadata["lineage.feature_schema"] == hashlib.sha256(compact).hexdigest()


def test_no_model_tarball_holds_data_rows(two_runs: tuple[Run, Run]) -> None:
    # GIVEN every model.tar.gz the two runs wrote (what the local S3 and the registry received)
    out = Path(two_runs[0].report["out"])
    tarballs = sorted(out.glob("runs/*/artifacts/model.tar.gz"))
    assert len(tarballs) == 2
    for path in tarballs:
        with tarfile.open(path) as archive:
            members = [m.name.lower() for m in archive.getmembers() if m.isfile()]
        # THEN none holds a CSV, Parquet or JSONL member, or anything named holdout
        assert members and not [m for m in members if m.endswith((".csv", ".parquet", ".jsonl")) or "holdout" in m]


def test_no_process_is_left_running_after_either_run(two_runs: tuple[Run, Run]) -> None:
    # GIVEN two finished runs THEN every process they started (and its children: gunicorn workers) is gone
    for run in two_runs:
        names = {child["name"] for child in run.report["processes"]}
        assert {"moto-server", "train", "serve"} <= names
        # AND the Glue runner they sent their jobs to is not theirs: not listed, not stopped (the Ctrl-C test below
        # checks a run's own runner)
        assert run.report["options"]["glue_runner"] and "extract" not in names and "dataset" not in names
        assert_nothing_left(run.report)


def test_ctrl_c_stops_every_process_and_reports_the_interruption(tmp_path: Path) -> None:
    # GIVEN a pipeline in the middle of the extraction (Spark running), started by a parent that ignores SIGINT (as
    # a shell's background job does; Python would keep that inherited SIG_IGN)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("SOURCE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--rows", "500", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if "extract: the extraction job" in line:
                break
        time.sleep(3)  # the job's JVM is starting or running
        # WHEN the user presses Ctrl-C
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    # THEN the run stops with 130, says so, and leaves no process behind
    assert process.returncode == 130, "".join(seen) + rest
    report = json.loads((tmp_path / "pipeline-report.json").read_text())
    assert report["status"] == "interrupted"
    assert {stage["name"]: stage["status"] for stage in report["stages"]}["extract"] == "failed"
    assert_nothing_left(report)
