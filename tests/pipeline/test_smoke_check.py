"""The one smoke test (:mod:`pipeline.smoke_check`) as the local run's serve stage runs it: the dataset run's
holdout from local disk, the package's model in-process, and the real model server over HTTP (``ServeClient``).
Binary, multiclass and regression models, each trained by the real ``bin/train``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from esteira_model.predictor import Predictor
from pipeline import aws
from pipeline.report import StageFailedError
from pipeline.serving import ServeClient
from pipeline.smoke_check import Gate, SmokeInputError, SmokeResult, read_holdout, smoke_test, split_rows
from pipeline.stages.serve import local_dataset_dir
from tests.containers.model.conftest import Server
from tests.pipeline.smoke_models import GATE_METRICS, OBJECTIVES, TaskModel, write_split


def run_check(
    trained: TaskModel,
    server: Server,
    gate: Gate,
    *,
    predictor: Predictor | None = None,
    min_match_rate: float | None = None,
) -> SmokeResult:
    predictor = predictor or Predictor.load(trained.model_dir)
    features, labels = split_rows(read_holdout(str(trained.dataset_dir)), predictor)
    client = ServeClient(server.port, timeout=30)
    try:
        return smoke_test(
            features, labels, predictor, client, gate, rows_per_request=150, min_match_rate=min_match_rate
        )
    finally:
        client.close()


@pytest.mark.parametrize("task", list(OBJECTIVES))
def test_each_task_passes_with_its_own_model_and_gate(
    task: str, task_models: dict[str, TaskModel], task_servers: dict[str, Server]
) -> None:
    # GIVEN a model of the task, served by the real server, and its dataset run's 400 held-out rows on disk
    trained = task_models[task]
    metric = GATE_METRICS[task]
    measured = trained.holdout_metric(metric)
    # WHEN the smoke test runs with the gate's metric and a threshold the model clears
    result = run_check(trained, task_servers[task], Gate(f"validation:{metric}", measured - 0.05), min_match_rate=0.5)
    # THEN the endpoint serves this package: every served prediction equals the package's own
    assert (result.task, result.rows, result.requests) == (task, 400, 3)
    assert result.serves_package and result.mismatched_rows == 0 and result.max_score_difference <= 1e-6
    # AND the gate's metric is the one train measured on the same holdout, with the same metric code
    assert result.metric == metric and result.direction == "maximize"
    assert result.value == pytest.approx(measured, abs=1e-9)
    assert result.metric_passed and result.passed
    # AND the match rate is the served labels' accuracy for classification, and does not apply to a regression
    if task == "regression":
        assert result.match_rate is None and "does not apply to a regression" in result.sentence()
    else:
        assert result.match_rate == pytest.approx(trained.evaluation["holdout"]["accuracy"], abs=1e-9)
    assert result.to_json()["passed"] is True and result.sentence().startswith("smoke test passed on 400 held-out")


@pytest.mark.parametrize("task", list(OBJECTIVES))
def test_quality_below_the_gate_fails(
    task: str, task_models: dict[str, TaskModel], task_servers: dict[str, Server]
) -> None:
    # GIVEN the right model and rows WHEN the gate's threshold is above what the model achieves on them
    trained = task_models[task]
    metric = GATE_METRICS[task]
    result = run_check(trained, task_servers[task], Gate(metric, trained.holdout_metric(metric) + 0.01))
    # THEN it fails on quality alone, and says so
    assert result.serves_package and not result.metric_passed and not result.passed
    assert f"{metric} {result.value:.4f} MISSES the gate's >= " in result.sentence()


def test_lower_is_better_metrics_are_at_most_the_threshold(
    task_models: dict[str, TaskModel], task_servers: dict[str, Server]
) -> None:
    # GIVEN a regression model and its holdout rmse
    trained = task_models["regression"]
    rmse = trained.holdout_metric("rmse")
    # WHEN the gate is rmse THEN a threshold above the rmse passes and one below fails
    above = run_check(trained, task_servers["regression"], Gate("rmse", rmse * 1.1))
    below = run_check(trained, task_servers["regression"], Gate("rmse", rmse * 0.9))
    assert above.direction == below.direction == "minimize"
    assert above.value == pytest.approx(rmse, abs=1e-9)
    assert (above.passed, below.passed) == (True, False)
    assert "MISSES the gate's <= " in below.sentence()


def test_an_endpoint_serving_another_model_fails(
    task_models: dict[str, TaskModel], task_servers: dict[str, Server]
) -> None:
    # GIVEN the binary package's model and rows, and an endpoint that serves the regression model instead
    trained = task_models["binary"]
    # WHEN the smoke test runs, even with a gate the package clears
    result = run_check(trained, task_servers["regression"], Gate("auc", 0.5))
    # THEN it fails: the served predictions are not the package's
    assert result.metric_passed and not result.serves_package and not result.passed
    assert result.mismatched_rows > 0 and result.first_mismatch is not None
    assert "the endpoint does NOT serve this package" in result.sentence()


def test_classification_match_rate_below_the_minimum_fails(
    task_models: dict[str, TaskModel], task_servers: dict[str, Server]
) -> None:
    trained = task_models["multiclass"]
    result = run_check(trained, task_servers["multiclass"], Gate("accuracy", 0.1), min_match_rate=1.0)
    assert result.serves_package and result.metric_passed and result.match_rate is not None
    assert result.match_rate < 1.0 and not result.passed
    assert f"match rate {result.match_rate:.4f} < 1" in result.sentence()


@pytest.mark.parametrize(
    ("task", "metric", "expected"),
    [
        ("regression", "auc", "training.gate.metric 'auc' is not a metric of a regression model"),
        ("binary", "r2", "training.gate.metric 'r2' is not a metric of a binary model"),
    ],
)
def test_a_gate_metric_the_task_lacks_is_bad_input(
    task: str, metric: str, expected: str, task_models: dict[str, TaskModel], task_servers: dict[str, Server]
) -> None:
    with pytest.raises(SmokeInputError, match=expected):
        run_check(task_models[task], task_servers[task], Gate(metric, 0.5))


def test_held_out_rows_without_a_feature_are_bad_input(task_models: dict[str, TaskModel]) -> None:
    trained = task_models["binary"]
    frame = trained.holdout.drop(columns=["f3"])
    with pytest.raises(SmokeInputError, match=r"lack the package's columns \['f3'\]"):
        split_rows(frame, Predictor.load(trained.model_dir))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist (missing dataset run?)"),
        ("markers-only", "holds no Parquet files (missing dataset run?)"),
        ("no-rows", "the Parquet files under"),
        ("not-parquet", "is not a readable Parquet file"),
    ],
)
def test_unusable_holdouts_are_clear_errors(tmp_path: Path, case: str, expected: str) -> None:
    # GIVEN a dataset run whose holdout is missing, holds only Spark's markers, holds no rows, or is not Parquet
    run = tmp_path / "run_id=r1"
    holdout = run / "holdout"
    if case != "missing":
        holdout.mkdir(parents=True)
        (holdout / "_SUCCESS").write_text("")
    if case == "no-rows":
        write_split(holdout, pd.DataFrame({"f0": pd.Series([], dtype="float64")}), parts=1)
    if case == "not-parquet":
        (holdout / "part-00000.parquet").write_text("label,f0\n1,2\n")
    # WHEN it is read THEN a SmokeInputError says what is wrong
    with pytest.raises(SmokeInputError) as caught:
        read_holdout(str(run))
    assert expected in str(caught.value)


def test_no_rows_is_bad_input(task_models: dict[str, TaskModel], task_servers: dict[str, Server]) -> None:
    trained = task_models["binary"]
    predictor = Predictor.load(trained.model_dir)
    features, labels = split_rows(trained.holdout.iloc[:0], predictor)
    client = ServeClient(task_servers["binary"].port)
    try:
        with pytest.raises(SmokeInputError, match="no held-out rows"):
            smoke_test(features, labels, predictor, client, Gate("auc", 0.8))
    finally:
        client.close()


def test_the_local_run_reads_the_dataset_run_the_package_names(tmp_path: Path) -> None:
    # GIVEN a package whose lineage.dataset is a dataset run in the (local) artifacts bucket
    uri = f"s3://{aws.ARTIFACTS_BUCKET}/datasets/run_id=esteira-local-1/"
    package = {"arn": "arn:p", "customer_metadata": {"lineage.dataset": uri}}
    # WHEN the serve stage locates it THEN it is the same keys under the local lake
    assert local_dataset_dir(package, tmp_path / "lake") == tmp_path / "lake" / "datasets" / "run_id=esteira-local-1"
    # AND a package without it (registered by an older run) is a clear stage failure
    with pytest.raises(StageFailedError, match=r"records no lineage\.dataset"):
        local_dataset_dir({"arn": "arn:p", "customer_metadata": {}}, tmp_path / "lake")
    with pytest.raises(StageFailedError, match=r"records no lineage\.dataset"):
        local_dataset_dir(
            {"arn": "arn:p", "customer_metadata": {"lineage.dataset": "s3://other/datasets/x/"}}, tmp_path
        )


def test_gate_direction_follows_evaluate() -> None:
    assert Gate("validation:auc", 0.8).direction == "maximize" and Gate("auc", 0.8).clears(0.8)
    assert Gate("rmse", 1.0).direction == "minimize" and Gate("rmse", 1.0).clears(0.5)
    assert not Gate("r2", 0.5).clears(0.49) and Gate("r2", 0.5).clears(0.5 - 1e-13)
