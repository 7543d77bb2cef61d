"""``python -m pipeline.smoke`` with real parts: real boto3, moto in server mode over HTTP for STS, S3 and the
SageMaker registry, and the real model server (``containers/model/bin/serve``) behind a small adapter that answers
SageMaker Runtime's ``POST /endpoints/<name>/invocations`` the way SageMaker does (``ModelError`` for a model's
4xx, ``ValidationError`` for an unknown endpoint). One small model per task (binary, multiclass, regression),
trained by the real ``bin/train``; each package names its dataset run (``lineage.dataset``), whose ``holdout/``
Parquet files are in the moto bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from esteira_model.schema import MODEL_FILENAME, SCHEMA_FILENAME
from pipeline import model, smoke
from tests.containers.model.conftest import Server
from tests.pipeline.smoke_models import ACCOUNT, GATE_METRICS, OBJECTIVES, REGION, RuntimeAdapter, TaskModel
from tests.servers import module_server

REPO = Path(__file__).resolve().parents[2]
ENDPOINTS = {task: f"esteira-staging-{task}" for task in OBJECTIVES}
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/esteira-staging-smoke-test"
BUCKET = "esteira-staging-artifacts"
CLI = [sys.executable, "-m", "pipeline.smoke"]


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """``python -m pipeline.moto_server`` (the local pipeline's AWS stand-in) in a process of its own."""
    with module_server("pipeline.moto_server") as url:
        yield url


@pytest.fixture(scope="module")
def runtime(task_servers: dict[str, Server]) -> Iterator[RuntimeAdapter]:
    adapter = RuntimeAdapter({ENDPOINTS[task]: server.port for task, server in task_servers.items()})
    thread = threading.Thread(target=adapter.serve_forever, daemon=True)
    thread.start()
    try:
        yield adapter
    finally:
        adapter.shutdown()
        adapter.server_close()


@pytest.fixture(autouse=True)
def aws_env(moto_endpoint: str, runtime: RuntimeAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials; moto for every service but SageMaker Runtime, which is the adapter."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{runtime.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


class Registry:
    """Model tarballs and dataset runs in the moto bucket, packages in a moto model package group."""

    def __init__(self, tmp_path: Path) -> None:
        session = boto3.session.Session(region_name=REGION)
        self.s3 = session.client("s3")
        self.sagemaker = session.client("sagemaker")
        self.tmp_path = tmp_path
        self.group = f"esteira-staging-model-{uuid.uuid4().hex[:8]}"
        self.s3.create_bucket(Bucket=BUCKET)
        self.sagemaker.create_model_package_group(ModelPackageGroupName=self.group)

    def dataset_run(self, holdout: Path | None) -> str:
        """A dataset run in the bucket: the files of a local ``holdout/`` folder (None: the run has no objects)."""
        prefix = f"datasets/run_id=run-{uuid.uuid4().hex[:8]}/"
        if holdout is not None:
            for path in sorted(holdout.iterdir()):
                self.s3.upload_file(str(path), BUCKET, f"{prefix}holdout/{path.name}")
        return f"s3://{BUCKET}/{prefix}"

    def package(self, model_dir: Path | None, dataset: str | None, raw: bytes | None = None) -> str:
        """A version whose ModelDataUrl is ``model_dir`` as SageMaker's model.tar.gz (or ``raw`` bytes), and whose
        customer metadata names ``dataset`` as its lineage.dataset, as Register records it."""
        container: dict[str, str] = {"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/esteira-model:abc"}
        if model_dir is not None or raw is not None:
            key = f"models/{uuid.uuid4().hex}/output/model.tar.gz"
            if raw is not None:
                self.s3.put_object(Bucket=BUCKET, Key=key, Body=raw)
            elif model_dir is not None:
                tarball = self.tmp_path / f"{uuid.uuid4().hex}.tar.gz"
                model.make_tarball(model_dir, tarball)
                self.s3.upload_file(str(tarball), BUCKET, key)
            container["ModelDataUrl"] = f"s3://{BUCKET}/{key}"
        metadata = {"lineage.training_job": "job-1"} | ({} if dataset is None else {"lineage.dataset": dataset})
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=self.group,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties=metadata,
        )["ModelPackageArn"]
        return arn

    def task_package(self, trained: TaskModel) -> str:
        return self.package(trained.model_dir, self.dataset_run(trained.dataset_dir / "holdout"))


@pytest.fixture
def registry(aws_env: None, tmp_path: Path) -> Registry:
    return Registry(tmp_path)


def gate_args(task: str, threshold: float) -> list[str]:
    return ["--gate-metric", GATE_METRICS[task], "--gate-threshold", str(threshold)]


def run_smoke(
    capsys: pytest.CaptureFixture[str], package: str, *extra: str, task: str = "binary", endpoint: str | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    args = ["--endpoint-name", endpoint or ENDPOINTS[task], "--model-package-arn", package]
    code = smoke.main([*args, *(extra or gate_args(task, 0.5))])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    return code, json.loads(lines[-1]) if lines else None, err


# ------------------------------------------------------------------------------------------------ tests


def test_the_cd_step_passes_with_the_packages_own_model_and_dataset(
    registry: Registry, task_models: dict[str, TaskModel], runtime: RuntimeAdapter
) -> None:
    # GIVEN an approved binary package: the real trained model, and its dataset run's 400 held-out rows in S3
    trained = task_models["binary"]
    package = registry.task_package(trained)
    auc = trained.holdout_metric("auc")
    before = runtime.invocations
    # WHEN the command runs as the CD step runs it: its own process, assuming the staging role
    args = ["--endpoint-name", ENDPOINTS["binary"], "--model-package-arn", package, "--role-arn", ROLE_ARN]
    done = subprocess.run(
        [*CLI, *args, *gate_args("binary", 0.8), "--min-match-rate", "0.8", "--rows-per-request", "150"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # THEN it passes, and its one JSON line reports both checks with the holdout auc train measured
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    dataset = summary.pop("dataset")
    assert dataset.startswith(f"s3://{BUCKET}/datasets/run_id=")
    assert summary == {
        "task": "binary",
        "rows": 400,
        "requests": 3,
        "serves_package": True,
        "mismatched_rows": 0,
        "max_score_difference": pytest.approx(0.0, abs=1e-6),
        "metric": "auc",
        "value": pytest.approx(auc, abs=1e-6),
        "threshold": 0.8,
        "direction": "maximize",
        "metric_passed": True,
        "match_rate": pytest.approx(trained.evaluation["holdout"]["accuracy"], abs=1e-6),
        "min_match_rate": 0.8,
        "passed": True,
        "endpoint": ENDPOINTS["binary"],
        "package": package,
    }
    assert "smoke test passed on 400 held-out binary rows" in done.stderr and "Traceback" not in done.stderr
    # AND the rows went through the real server, 150 per InvokeEndpoint
    assert runtime.invocations - before == 3


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_multiclass_and_regression_pass_on_their_gate_metric(
    registry: Registry, task_models: dict[str, TaskModel], capsys: pytest.CaptureFixture[str], task: str
) -> None:
    # GIVEN a package of the task WHEN the smoke test runs with its gate metric and a threshold it clears
    trained = task_models[task]
    measured = trained.holdout_metric(GATE_METRICS[task])
    code, summary, err = run_smoke(
        capsys, registry.task_package(trained), *gate_args(task, measured - 0.05), "--min-match-rate", "0.5", task=task
    )
    # THEN it passes on both checks; a regression reports the match rate as not applicable
    assert code == 0, err
    assert summary is not None and summary["serves_package"] and summary["metric"] == GATE_METRICS[task]
    assert summary["value"] == pytest.approx(measured, abs=1e-6)
    if task == "regression":
        assert summary["match_rate"] is None and "does not apply to a regression" in err
    else:
        assert summary["match_rate"] == pytest.approx(trained.evaluation["holdout"]["accuracy"], abs=1e-6)


def test_a_regression_gate_on_rmse_fails_above_the_threshold(
    registry: Registry, task_models: dict[str, TaskModel], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a regression package and a gate on rmse below what the model achieves (lower is better)
    trained = task_models["regression"]
    rmse = trained.holdout_metric("rmse")
    package = registry.task_package(trained)
    args = ["--gate-metric", "rmse", "--gate-threshold", str(rmse * 0.9)]
    # WHEN the smoke test runs THEN it exits 1 on quality, still printing the numbers
    code, summary, err = run_smoke(capsys, package, *args, task="regression")
    assert code == smoke.EXIT_FAILED == 1
    assert summary is not None and summary["direction"] == "minimize" and summary["metric_passed"] is False
    assert summary["serves_package"] is True
    assert "smoke test FAILED" in err and "MISSES the gate's <=" in err


def test_an_endpoint_serving_another_package_fails(
    registry: Registry, task_models: dict[str, TaskModel], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the binary package, deployed to an endpoint that serves the regression model
    package = registry.task_package(task_models["binary"])
    # WHEN the smoke test targets that endpoint THEN it exits 1: the endpoint does not serve this package
    code, summary, err = run_smoke(capsys, package, endpoint=ENDPOINTS["regression"])
    assert code == 1
    assert summary is not None and summary["serves_package"] is False and summary["mismatched_rows"] > 0
    assert "the endpoint does NOT serve this package" in err


def test_classification_below_the_match_rate_fails(
    registry: Registry, task_models: dict[str, TaskModel], capsys: pytest.CaptureFixture[str]
) -> None:
    trained = task_models["binary"]
    assert trained.evaluation["holdout"]["accuracy"] < 0.99
    code, summary, err = run_smoke(
        capsys, registry.task_package(trained), *gate_args("binary", 0.5), "--min-match-rate", "0.99"
    )
    assert code == 1 and summary is not None and summary["min_match_rate"] == 0.99
    assert summary["serves_package"] and summary["metric_passed"] and not summary["passed"]
    assert "< 0.99" in err


def empty_holdout(tmp_path: Path, trained: TaskModel) -> Path:
    folder = tmp_path / "holdout"
    folder.mkdir()
    trained.holdout.iloc[:0].to_parquet(folder / "part-00000.snappy.parquet", index=False)
    return folder


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no-lineage", "records no lineage.dataset (the S3 dataset run it was trained on"),
        ("missing-dataset-run", "holds no Parquet files (missing dataset run?)"),
        ("no-rows", "no held-out rows: the Parquet files under"),
        ("metric-of-another-task", "training.gate.metric 'r2' is not a metric of a binary model"),
        ("unknown-package", "cannot describe model package"),
        ("no-model-data", "has no InferenceSpecification.Containers[0].ModelDataUrl"),
        ("not-a-tarball", "is not a readable tar archive"),
        ("no-model-files", f"has no {MODEL_FILENAME} and no {SCHEMA_FILENAME}"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    registry: Registry,
    task_models: dict[str, TaskModel],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    expected: str,
) -> None:
    # GIVEN a package that cannot be smoke-tested
    trained = task_models["binary"]
    good_run = registry.dataset_run(trained.dataset_dir / "holdout")
    extra = gate_args("binary", 0.5)
    if case == "no-lineage":
        package = registry.package(trained.model_dir, None)
    elif case == "missing-dataset-run":
        package = registry.package(trained.model_dir, registry.dataset_run(None))
    elif case == "no-rows":
        package = registry.package(trained.model_dir, registry.dataset_run(empty_holdout(tmp_path, trained)))
    elif case == "metric-of-another-task":
        package = registry.package(trained.model_dir, good_run)
        extra = ["--gate-metric", "r2", "--gate-threshold", "0.5"]
    elif case == "unknown-package":
        package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{registry.group}/99"
    elif case == "no-model-files":
        archive = tmp_path / "other.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(trained.model_dir / "evaluation.json", arcname="evaluation.json")
        package = registry.package(None, good_run, raw=archive.read_bytes())
    else:
        package = registry.package(None, good_run, raw=b"not a tarball" if case == "not-a-tarball" else None)
    # WHEN the smoke test runs THEN it exits 2 with a one-line reason and no traceback
    code, summary, err = run_smoke(capsys, package, *extra)
    assert (code, summary) == (smoke.EXIT_ERROR, None)
    assert err.startswith("smoke test error: ") and expected in err and "Traceback" not in err
    if case == "unknown-package":
        assert package in err


def test_unknown_endpoint_is_a_clear_error(
    registry: Registry, task_models: dict[str, TaskModel], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a good package WHEN the smoke test targets an endpoint that does not exist
    package = registry.task_package(task_models["binary"])
    code, summary, err = run_smoke(capsys, package, endpoint="esteira-staging-nope")
    # THEN SageMaker's 400 ValidationError is the reason
    assert (code, summary) == (2, None)
    assert "endpoint esteira-staging-nope: ValidationError (HTTP 400): Endpoint esteira-staging-nope" in err


REQUIRED = ["--endpoint-name", "e", "--model-package-arn", "p", "--gate-metric", "auc", "--gate-threshold", "0.8"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--endpoint-name", "e"], "the following arguments are required: --model-package-arn, --gate-metric"),
        (REQUIRED[:6], "the following arguments are required: --gate-threshold"),
        ([*REQUIRED[:7], "x"], "--gate-threshold: not a number"),
        ([*REQUIRED[:7], "nan"], "--gate-threshold: must be finite"),
        ([*REQUIRED, "--min-match-rate", "1.5"], "between 0 and 1"),
        ([*REQUIRED, "--min-match-rate", "x"], "not a number"),
        ([*REQUIRED, "--rows-per-request", "0"], "at least 1"),
        (["--endpoint-name", " ", *REQUIRED[2:]], "--endpoint-name: must not be empty"),
    ],
)
def test_bad_arguments_exit_2_with_usage(capsys: pytest.CaptureFixture[str], args: list[str], expected: str) -> None:
    # GIVEN bad arguments WHEN parsed THEN argparse's usage and reason, exit 2, nothing on stdout
    code = smoke.main(args)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "usage: python -m pipeline.smoke" in err and expected in err


def test_assumed_role_session_is_named_for_the_smoke_test(aws_env: None) -> None:
    # GIVEN the staging role WHEN a session is made with it THEN calls run as that role, session esteira-smoke-test
    session = smoke.make_session(REGION, ROLE_ARN)
    identity = session.client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/esteira-staging-smoke-test/esteira-smoke-test"


def test_region_comes_from_the_package_arn() -> None:
    assert smoke.arn_region(f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/g/3") == "eu-west-1"
    assert smoke.arn_region("esteira-staging-model") is None


def pins(path: Path) -> dict[str, str]:
    """name -> 'name==version' of a requirements file's pins (its -r includes followed)."""
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= pins(path.parent / line[3:].strip())
        elif "==" in line:
            found[line.split("==")[0]] = line
    return found


def test_the_steps_requirements_are_the_model_codes_own_pins_and_small() -> None:
    # GIVEN what the CD step installs
    smoke_pins = pins(REPO / "pipeline" / "requirements-smoke.txt")
    # THEN boto3 and the model code's runtime for an in-process prediction, nothing more (no SageMaker SDK, no
    # server), each pinned as the dev environment the tests run in and the model image pin them
    assert sorted(smoke_pins) == ["boto3", "numpy", "pandas", "pyarrow", "scipy", "xgboost-cpu"]
    dev = pins(REPO / "requirements-dev.txt")
    assert all(dev[name] == pin for name, pin in smoke_pins.items())
    image = pins(REPO / "containers" / "model" / "requirements.txt")
    assert all(image[name] == pin for name, pin in smoke_pins.items() if name != "boto3")
    # AND the command imports no CDK and no server code
    probe = (
        "import sys, pipeline.smoke; "
        "print([m for m in ('aws_cdk', 'sagemaker', 'gunicorn', 'uvicorn', 'orjson') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": "containers/model/src"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "[]"


def test_tarball_members_may_carry_a_leading_dot_slash(tmp_path: Path, task_models: dict[str, TaskModel]) -> None:
    # GIVEN a tarball made with `tar czf model.tar.gz -C model .` (members named ./xgboost-model.ubj, ...)
    archive_path = tmp_path / "model.tar.gz"
    with tarfile.open(archive_path, "w:gz") as archive:
        for name in (MODEL_FILENAME, SCHEMA_FILENAME, "evaluation.json"):
            archive.add(task_models["binary"].model_dir / name, arcname=f"./{name}")
    # WHEN the model files are extracted THEN exactly those two are, under their plain names
    into = tmp_path / "into"
    into.mkdir()
    with archive_path.open("rb") as handle:
        smoke.extract_model(handle, "s3://b/k", into)
    assert sorted(p.name for p in into.iterdir()) == sorted([MODEL_FILENAME, SCHEMA_FILENAME])
