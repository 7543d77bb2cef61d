"""The second example dataset end to end, as a user brings a table: generate it, point the local run at it with the
example's config (its spec comes from the config), regression and the multiclass variant.

The source is a SQLite file the run must only read: its checksum is the same afterwards. The serve stage's smoke test
is task-aware: the endpoint serves the package's own predictions, and the gate's metric (r2 for the regression,
accuracy for the multiclass variant) clears the shipped threshold on the dataset's held-out rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "apartment_rents"
ROWS = 1000
UP_TO_REGISTER = ("aws", "source", "extract", "dataset", "train", "evaluate", "baseline", "register")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    code: int
    output: str
    report: dict[str, Any]
    source_before: str
    source_after: str


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class StartedRun:
    process: subprocess.Popen[str]
    out: Path
    source: Path
    source_before: str


def start_example(tmp: Path, config: str, glue_runner: Path) -> StartedRun:
    source = tmp / "rents.db"
    generated = subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), "--rows", str(ROWS), "--sqlite", str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"wrote {ROWS} listings" in generated.stdout
    before = sha256(source)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("SOURCE_URL", None)
    out = tmp / "out"
    argv = ["--config", str(EXAMPLE / config), "--source-sqlite", str(source), "--out", str(out), "--fresh"]
    argv += ["--glue-runner", str(glue_runner)]  # the session's warm one (tests/warm_glue_runner.py)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return StartedRun(process, out, source, before)


def finish(started: StartedRun) -> Run:
    try:
        output, _ = started.process.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        started.process.kill()
        output, _ = started.process.communicate()
        pytest.fail(f"the local run did not end within 900 s:\n{output[-3000:]}")
    report = json.loads((started.out / "pipeline-report.json").read_text())
    return Run(started.process.returncode, output, report, started.source_before, sha256(started.source))


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory: pytest.TempPathFactory, glue_runner_socket: Path) -> dict[str, Run]:
    """Both variants' local runs, side by side: each waits on the other's Spark jobs at the warm runner (which runs one
    job at a time), and on its own stages (the moto servers' start, training, serving, the batch) while the other's
    run. Each has its own source, output folder, servers and ports."""
    started: dict[str, StartedRun] = {}
    try:
        for config in ("rents.yaml", "rent-bands.yaml"):
            tmp = tmp_path_factory.mktemp(config.removesuffix(".yaml"))
            started[config] = start_example(tmp, config, glue_runner_socket)
        return {config: finish(run) for config, run in started.items()}
    finally:  # a run left behind by a failure here (the other's start, a timeout) is stopped
        for run in started.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()


@pytest.fixture(scope="module")
def regression(example_runs: dict[str, Run]) -> Run:
    return example_runs["rents.yaml"]


@pytest.fixture(scope="module")
def multiclass(example_runs: dict[str, Run]) -> Run:
    return example_runs["rent-bands.yaml"]


def assert_trained_and_registered(run: Run, spec_name: str) -> dict[str, Any]:
    report = run.report
    stages = {stage["name"]: stage["status"] for stage in report["stages"]}
    assert [stages[name] for name in UP_TO_REGISTER] == ["ok"] * len(UP_TO_REGISTER), run.output[-4000:]
    # The spec came from the config, and its state is its own
    assert report["spec_name"] == spec_name == report["source"]["spec"]
    out = Path(report["out"])
    assert (out / "lake" / "state" / f"{spec_name}.json").is_file()
    assert not (out / "lake" / "state" / "employees.json").exists()
    # The source was only read: counted through the spec's query, nothing created or changed, same bytes
    assert report["source"] == {**report["source"], "demo": False, "created": False, "changed": 0, "rows": ROWS}
    assert run.source_after == run.source_before
    ext, data = report["extraction"], report["dataset"]
    assert ext["rows_read"] == ROWS and ext["rows_extracted"] + ext["rows_quarantined"] == ROWS
    assert data["keys_latest"] == ext["rows_extracted"] and data["batch_input_rows"] > 0
    assert sum(split["rows"] for split in data["splits"].values()) == data["keys_label_final"]
    gate = report["model"]["gate"]
    assert gate["passed"] is True and report["model"]["registered_package_arn"]
    return report


def test_regression_example_trains_at_the_shipped_gate_and_reports_regression_metrics(regression: Run) -> None:
    # GIVEN the generated listings and the example's regression config WHEN the local run reads them
    report = assert_trained_and_registered(regression, "apartment_rents")
    # THEN the task is a regression, gated on r2 at the config's threshold, and the summaries speak its metrics
    assert report["task"] == "regression"
    gate, metrics = report["model"]["gate"], report["model"]["metrics"]
    assert gate["metric"] == "r2" and gate["threshold"] == 0.8 and metrics["r2"] >= 0.8
    assert metrics["rmse"] > 0 and metrics["mae"] > 0
    assert "model (regression)" in regression.output and "r2 0." in regression.output
    assert "auc" not in regression.output.split("model (regression)")[1].splitlines()[0]


def test_multiclass_example_trains_at_the_shipped_gate_and_reports_multiclass_metrics(multiclass: Run) -> None:
    report = assert_trained_and_registered(multiclass, "apartment_rent_bands")
    assert report["task"] == "multiclass"
    gate, metrics = report["model"]["gate"], report["model"]["metrics"]
    assert gate["metric"] == "accuracy" and gate["threshold"] == 0.6 and metrics["accuracy"] >= 0.6
    assert "model (multiclass)" in multiclass.output and "f1 macro" in multiclass.output


def test_regression_example_is_served_smoke_tested_and_every_prediction_delivered(regression: Run) -> None:
    assert_served_and_delivered(regression)


def test_multiclass_example_is_served_smoke_tested_and_every_prediction_delivered(multiclass: Run) -> None:
    assert_served_and_delivered(multiclass)


def assert_served_and_delivered(run: Run) -> None:
    report = run.report
    assert report["status"] == "succeeded", run.output[-3000:]
    assert report["model"]["served_package_arn"] == report["model"]["registered_package_arn"]
    smoke, gate = report["smoke_test"], report["model"]["gate"]
    assert smoke["rows"] == report["dataset"]["splits"]["holdout"]["rows"]
    # The endpoint served the package's own predictions, and the gate's metric held on the held-out rows
    assert smoke["serves_package"] is True and smoke["mismatched_rows"] == 0
    assert (smoke["metric"], smoke["threshold"]) == (gate["metric"], gate["threshold"])
    assert smoke["metric_passed"] is True and smoke["passed"] is True
    batch = report["batch"]
    assert batch["input_rows"] == batch["predicted"] == batch["delivered"] == batch["stored"]
    assert batch["predicted"] == report["dataset"]["batch_input_rows"] and batch["lost"] == 0
