"""``python -m pipeline.smoke`` with real parts: real boto3, moto in server mode over HTTP for STS, S3 and the
SageMaker registry, and the real model server (``containers/model/bin/serve``) behind a small adapter that answers
SageMaker Runtime's ``POST /endpoints/<name>/invocations`` the way SageMaker does (``ModelError`` for a model's
4xx, ``ValidationError`` for an unknown endpoint). The model is trained once per module on the checked-in fixture.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import boto3
import pytest

from esteira_model.schema import EVALUATION_FILENAME
from esteira_model.train import SMOKE_HOLDOUT
from pipeline import model, smoke
from tests.containers.model.conftest import Server, start_server, stop_server
from tests.containers.model.helpers import FIXTURES, TRAIN_BIN, MLRoot, run_bin
from tests.servers import module_server

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ENDPOINT = "esteira-staging-endpoint"
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
def trained(tmp_path_factory: pytest.TempPathFactory) -> MLRoot:
    """bin/train on the fixture's CSV channels: 300 rows to train on, 100 validation rows in smoke/holdout.csv."""
    root = MLRoot(tmp_path_factory.mktemp("smoke-model") / "ml")
    (root.channel("train") / "train.csv").write_bytes((FIXTURES / "train.csv").read_bytes())
    (root.channel("validation") / "validation.csv").write_bytes((FIXTURES / "validation.csv").read_bytes())
    root.write_hyperparameters({"drop_columns": "customer_id", "num_round": "20"})
    result = run_bin(TRAIN_BIN, root.root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def model_server(trained: MLRoot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        trained, tmp_path_factory.mktemp("smoke-serve") / "serve.log", {"ESTEIRA_SERVER_WORKERS": "1"}
    )
    try:
        yield running
    finally:
        stop_server(running)


class RuntimeAdapter(ThreadingHTTPServer):
    """SageMaker Runtime's InvokeEndpoint in front of model servers: endpoint name -> server port."""

    daemon_threads = True

    def __init__(self, endpoints: dict[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.endpoints = endpoints
        self.invocations = 0


class RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        adapter = cast(RuntimeAdapter, self.server)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        match = re.fullmatch(r"/endpoints/([^/]+)/invocations", self.path)
        name = match.group(1) if match else self.path
        port = adapter.endpoints.get(name)
        if port is None:
            message = f"Endpoint {name} of account {ACCOUNT} not found."
            self._answer(400, {"message": message}, error_type="ValidationError")
            return
        headers = {"Content-Type": self.headers["Content-Type"], "Accept": self.headers["Accept"]}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        adapter.invocations += 1
        if response.status == 200:
            self.send_response(200)
            self.send_header("Content-Type", response.getheader("Content-Type", "text/csv"))
            self.send_header("x-Amzn-Invoked-Production-Variant", "champion")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        text = payload.decode(errors="replace")
        self._answer(
            424,
            {
                "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
                "LogStreamArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
                "Message": f'Received client error ({response.status}) from primary with message "{text}".',
                "OriginalMessage": text,
                "OriginalStatusCode": response.status,
            },
            error_type="ModelError",
        )

    def _answer(self, status: int, document: dict[str, Any], error_type: str) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def runtime(model_server: Server) -> Iterator[RuntimeAdapter]:
    adapter = RuntimeAdapter({ENDPOINT: model_server.port})
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
    """Model tarballs in the moto bucket, packages in a moto model package group."""

    def __init__(self, tmp_path: Path) -> None:
        session = boto3.session.Session(region_name=REGION)
        self.s3 = session.client("s3")
        self.sagemaker = session.client("sagemaker")
        self.tmp_path = tmp_path
        self.group = f"esteira-staging-model-{uuid.uuid4().hex[:8]}"
        self.s3.create_bucket(Bucket=BUCKET)
        self.sagemaker.create_model_package_group(ModelPackageGroupName=self.group)

    def package(self, model_dir: Path | None, raw: bytes | None = None) -> str:
        """A version whose ModelDataUrl is ``model_dir`` as SageMaker's model.tar.gz (or ``raw`` bytes)."""
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
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=self.group,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        return arn


@pytest.fixture
def registry(aws_env: None, tmp_path: Path) -> Registry:
    return Registry(tmp_path)


def copy_model(trained: MLRoot, target: Path, holdout: str | None) -> Path:
    """The trained model directory with smoke/holdout.csv replaced by ``holdout`` (None: removed)."""
    shutil.copytree(trained.model_dir, target)
    path = target / SMOKE_HOLDOUT
    if holdout is None:
        shutil.rmtree(path.parent)
    else:
        path.write_text(holdout)
    return target


def run_smoke(
    capsys: pytest.CaptureFixture[str], package: str, *extra: str, endpoint: str = ENDPOINT
) -> tuple[int, dict[str, Any] | None, str]:
    code = smoke.main(["--endpoint-name", endpoint, "--model-package-arn", package, *extra])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    return code, json.loads(lines[-1]) if lines else None, err


def accuracy(trained: MLRoot) -> float:
    evaluation = json.loads((trained.model_dir / EVALUATION_FILENAME).read_text())
    return float(evaluation["validation"]["accuracy"])


# ------------------------------------------------------------------------------------------------ tests


def test_passes_with_the_packages_own_held_out_rows(
    registry: Registry, trained: MLRoot, runtime: RuntimeAdapter
) -> None:
    # GIVEN an approved package whose model.tar.gz is the real trained model with its 100 held-out rows
    package = registry.package(trained.model_dir)
    before = runtime.invocations
    # WHEN the command runs as the CD step runs it: its own process, assuming the staging role
    args = ["--endpoint-name", ENDPOINT, "--model-package-arn", package, "--role-arn", ROLE_ARN]
    done = subprocess.run(
        [*CLI, *args, "--rows-per-request", "30"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN it passes, and its one JSON line reports the validation accuracy train measured on those rows
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary == {
        "rows": 100,
        "matches": round(accuracy(trained) * 100),
        "match_rate": pytest.approx(accuracy(trained), abs=1e-6),
        "min_match_rate": 0.8,
        "requests": 4,
        "passed": True,
        "endpoint": ENDPOINT,
        "package": package,
    }
    assert "smoke test passed: match rate" in done.stderr and "Traceback" not in done.stderr
    # AND the rows went through the real server, 30 per InvokeEndpoint
    assert runtime.invocations - before == 4


def test_fails_below_the_configured_match_rate(
    registry: Registry, trained: MLRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the real model and rows, and a bar above what the model achieves on them
    package = registry.package(trained.model_dir)
    assert accuracy(trained) < 0.95
    # WHEN the smoke test runs
    code, summary, err = run_smoke(capsys, package, "--min-match-rate", "0.95")
    # THEN it exits 1, says why, and still prints the numbers
    assert code == smoke.EXIT_FAILED == 1
    assert summary is not None and summary["passed"] is False and summary["min_match_rate"] == 0.95
    assert f"smoke test FAILED: match rate {accuracy(trained):.4f} < 0.95 on 100 held-out rows of {package}" in err


def test_wrong_labels_fail_at_the_default_rate(
    registry: Registry, trained: MLRoot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a package whose held-out labels are flipped (a model that predicts the opposite of the truth)
    header, *rows = (trained.model_dir / SMOKE_HOLDOUT).read_text().splitlines()
    flipped = [("0" if row[0] == "1" else "1") + row[1:] for row in rows]
    package = registry.package(copy_model(trained, tmp_path / "flipped", "\n".join([header, *flipped]) + "\n"))
    # WHEN the smoke test runs with the default bar THEN it fails with the complementary match rate
    code, summary, _ = run_smoke(capsys, package)
    assert code == 1
    assert summary is not None and summary["match_rate"] == pytest.approx(1 - accuracy(trained), abs=1e-6)


@pytest.mark.parametrize(
    ("holdout", "expected"),
    [
        (
            None,
            "has no smoke/holdout.csv: the model was trained before train wrote held-out rows, or with smoke_rows=0",
        ),
        ("label,f0,f1,f2,f3,f4,f5\n", "has a header but no rows"),
        ("", "is empty"),
        ("label,f0,f1,f2,f3,f4,f5\nyes,1,2,3,4,5,6\n", "line 2: the label 'yes' is not a number"),
        ("label,f0,f1,f2,f3,f4,f5\n1,1,2,3\n", "line 2 has 4 fields; the header has 7"),
    ],
    ids=["missing", "header-only", "empty", "bad-label", "short-row"],
)
def test_unusable_held_out_rows_are_clear_errors(
    registry: Registry,
    trained: MLRoot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    holdout: str | None,
    expected: str,
) -> None:
    # GIVEN a package whose model.tar.gz lacks usable held-out rows
    package = registry.package(copy_model(trained, tmp_path / "model", holdout))
    # WHEN the smoke test runs THEN it exits 2 with a one-line reason and no traceback, invoking nothing
    code, summary, err = run_smoke(capsys, package)
    assert (code, summary) == (smoke.EXIT_ERROR, None)
    assert err.startswith("smoke test error: ") and expected in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown", "cannot describe model package"),
        ("no-model-data", "has no InferenceSpecification.Containers[0].ModelDataUrl"),
        ("not-a-tarball", "is not a readable tar archive"),
    ],
)
def test_package_problems_are_clear_errors(
    registry: Registry, capsys: pytest.CaptureFixture[str], case: str, expected: str
) -> None:
    # GIVEN a package ARN that does not exist, a package without model data, or model data that is not a tarball
    if case == "unknown":
        package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{registry.group}/99"
    else:
        package = registry.package(None, raw=b"not a tarball" if case == "not-a-tarball" else None)
    # WHEN the smoke test runs THEN it exits 2 naming the package problem
    code, summary, err = run_smoke(capsys, package)
    assert (code, summary) == (2, None)
    assert expected in err and "Traceback" not in err
    if case == "unknown":
        assert package in err


def test_endpoint_rejecting_the_rows_is_a_clear_error(
    registry: Registry, trained: MLRoot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN held-out rows with one feature fewer than the served model takes
    header, *rows = (trained.model_dir / SMOKE_HOLDOUT).read_text().splitlines()
    short = [line.rsplit(",", 1)[0] for line in [header, *rows]]
    package = registry.package(copy_model(trained, tmp_path / "short", "\n".join(short) + "\n"))
    # WHEN the smoke test runs
    code, summary, err = run_smoke(capsys, package)
    # THEN the server's 400 comes back as SageMaker's ModelError, with the server's own message
    assert (code, summary) == (2, None)
    assert f"endpoint {ENDPOINT}: ModelError (HTTP 424)" in err
    assert "record 1 has 5 columns; the model expects 6" in err and "Traceback" not in err


def test_unknown_endpoint_is_a_clear_error(
    registry: Registry, trained: MLRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a good package WHEN the smoke test targets an endpoint that does not exist
    package = registry.package(trained.model_dir)
    code, summary, err = run_smoke(capsys, package, endpoint="esteira-staging-nope")
    # THEN SageMaker's 400 ValidationError is the reason
    assert (code, summary) == (2, None)
    assert "endpoint esteira-staging-nope: ValidationError (HTTP 400): Endpoint esteira-staging-nope" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--endpoint-name", ENDPOINT], "the following arguments are required: --model-package-arn"),
        (["--endpoint-name", ENDPOINT, "--model-package-arn", "p", "--min-match-rate", "1.5"], "between 0 and 1"),
        (["--endpoint-name", ENDPOINT, "--model-package-arn", "p", "--min-match-rate", "x"], "not a number"),
        (["--endpoint-name", ENDPOINT, "--model-package-arn", "p", "--rows-per-request", "0"], "at least 1"),
        (["--endpoint-name", " ", "--model-package-arn", "p"], "--endpoint-name: must not be empty"),
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


def test_holdout_path_is_the_one_train_writes_and_the_step_needs_boto3_only() -> None:
    # GIVEN the member name smoke.py reads and train's path THEN they agree
    assert SMOKE_HOLDOUT.as_posix() == smoke.HOLDOUT_MEMBER
    # AND importing the command loads no model, data or CDK libraries (the CD step installs boto3 only)
    probe = (
        "import sys, pipeline.smoke; print([m for m in ('numpy', 'pandas', 'xgboost', 'aws_cdk') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    # AND its requirements pin the same boto3 as the dev environment the tests run in
    pins = {line.strip() for line in (REPO / "requirements-dev.txt").read_text().splitlines()}
    smoke_pins = [line.strip() for line in (REPO / "pipeline" / "requirements-smoke.txt").read_text().splitlines()]
    required = [p for p in smoke_pins if p and not p.startswith("#")]
    assert [p.split("==")[0] for p in required] == ["boto3"]
    assert set(required) <= pins


def test_tarball_members_may_carry_a_leading_dot_slash(tmp_path: Path) -> None:
    # GIVEN a tarball made with `tar czf model.tar.gz -C model .` (members named ./smoke/holdout.csv)
    archive_path = tmp_path / "model.tar.gz"
    source = tmp_path / "holdout.csv"
    source.write_text("label,a\n1,2\n")
    with tarfile.open(archive_path, "w:gz") as archive:
        archive.add(source, arcname="./smoke/holdout.csv")
    # WHEN the member is read THEN it is found
    with archive_path.open("rb") as handle:
        assert smoke.read_holdout_member(handle, "s3://b/k") == "label,a\n1,2\n"
