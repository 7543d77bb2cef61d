"""``python -m pipeline.smoke``: the CD pipeline's smoke test of a deployed SageMaker endpoint.

The model package names the dataset run it was trained on (customer metadata ``lineage.dataset``, recorded by the
training state machine's Evaluate and Register steps). The test reads that run's held-out rows
(``<dataset run>/holdout/``, Parquet, in the artifacts bucket: restricted and KMS-encrypted; no data rows travel in
``model.tar.gz``), loads the package's own model from its ``model.tar.gz`` (only the model and its feature
schema are read from the archive), and runs :func:`pipeline.smoke_check.smoke_test`, the code the local run's
serve stage runs::

    python -m pipeline.smoke --endpoint-name esteira-staging-endpoint \\
        --model-package-arn arn:aws:sagemaker:<region>:<account>:model-package/esteira-staging-model/<version> \\
        --gate-metric auc --gate-threshold 0.8 \\
        [--min-match-rate 0.8] [--rows-per-request 500] [--role-arn <role in the endpoint's account>] [--region R]

It passes when (1) the endpoint's predictions equal the package's offline predictions on every held-out row (the
endpoint serves this package), (2) the gate's metric on those rows (``training.gate.metric`` of the registry
environment's config: auc/accuracy/f1/... for classification, r2/rmse/mae for regression) clears
``--gate-threshold`` in the metric's direction (rmse, mae: at most; the others: at least), and (3) for
classification only, when ``--min-match-rate`` is given, the share of rows whose served label equals the true one
reaches it (it does not apply to a regression, and is reported as such).

Steps: assume ``--role-arn`` when given (session ``esteira-smoke-test``); ``DescribeModelPackage``; stream
``InferenceSpecification.Containers[0].ModelDataUrl`` into a temporary file; list and read the holdout's Parquet
files; ``InvokeEndpoint`` in chunks of ``--rows-per-request``. The region is ``--region``, else the package ARN's,
else the SDK's default.

Prints one JSON line (task, rows, serves_package, metric, value, threshold, match_rate, passed, endpoint, package,
dataset, ...) on stdout, a sentence on stderr. Exit status: 0 when every check passes, 1 when one fails, 2 when the
test could not run (bad arguments, unknown package, no model data, no ``lineage.dataset``, a missing dataset run or
no held-out rows, a gate metric the task lacks, endpoint or AWS errors).

Needs ``pipeline/requirements-smoke.txt`` (boto3 and the model code's runtime: xgboost, numpy, pandas, pyarrow) and
``containers/model/src`` on ``PYTHONPATH``. Clients are created when ``main`` runs, so ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` set before then are honoured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from esteira_model.errors import ModelLoadError
from esteira_model.predictor import Predictor
from esteira_model.schema import MODEL_FILENAME, SCHEMA_FILENAME
from pipeline.smoke_check import (
    LINEAGE_DATASET,
    Gate,
    SmokeInputError,
    SmokeResult,
    read_holdout,
    smoke_test,
    split_rows,
)

# The only members read from model.tar.gz: the model and its feature schema.
MODEL_MEMBERS = (MODEL_FILENAME, SCHEMA_FILENAME)
SESSION_NAME = "esteira-smoke-test"
CSV = "text/csv"

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_ERROR = 2


class SmokeError(Exception):
    """The smoke test could not run; the message says why."""


# ------------------------------------------------------------------------------------------------ arguments


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be finite, not {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text.strip()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.smoke",
        description="Smoke-test a SageMaker endpoint on the held-out rows of the dataset run its package was "
        "trained on: it must serve that package's predictions, and the gate's metric must clear its threshold.",
    )
    parser.add_argument("--endpoint-name", required=True, type=_non_empty, help="the endpoint to invoke")
    parser.add_argument("--model-package-arn", required=True, type=_non_empty, help="the package it should serve")
    parser.add_argument(
        "--gate-metric", required=True, type=_non_empty, help="the config's training.gate.metric (auc, r2, rmse, ...)"
    )
    parser.add_argument("--gate-threshold", required=True, type=_finite, help="the config's training.gate.threshold")
    parser.add_argument(
        "--min-match-rate",
        type=_rate,
        default=None,
        help="classification only: least share of held-out rows whose served label is the true one (default: "
        "not checked; a regression reports it as not applicable)",
    )
    parser.add_argument(
        "--rows-per-request", type=_positive_int, default=500, help="rows per InvokeEndpoint (default 500)"
    )
    parser.add_argument("--role-arn", type=_non_empty, help="assume this role first (e.g. in the staging account)")
    parser.add_argument("--region", type=_non_empty, help="default: the package ARN's region, else the SDK's")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ AWS


def _describe(err: ClientError | BotoCoreError) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{error.get('Code', 'Error')} (HTTP {status}): {error.get('Message', '')}".rstrip(": ")
        original = err.response.get("OriginalMessage")
        if original and original not in text:
            text += f"; the model answered {err.response.get('OriginalStatusCode', '?')}: {original}"
        return text
    return str(err)


def arn_region(arn: str) -> str | None:
    """``arn:aws:sagemaker:<region>:<account>:model-package/...`` -> the region; None for a name."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[3]:
        return None
    return parts[3]


def make_session(region: str | None, role_arn: str | None) -> boto3.session.Session:
    """The default credentials, or the role's when ``role_arn`` is given (session name ``esteira-smoke-test``)."""
    base = boto3.session.Session(region_name=region)
    if not role_arn:
        return base
    try:
        credentials = base.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
    except (ClientError, BotoCoreError) as err:
        raise SmokeError(f"cannot assume role {role_arn}: {_describe(err)}") from None
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=base.region_name,
    )


@dataclass(frozen=True)
class Package:
    arn: str
    model_data_url: str
    dataset_uri: str  # the dataset run it was trained on


def describe_package(sagemaker: Any, package_arn: str) -> Package:
    try:
        package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except (ClientError, BotoCoreError) as err:
        raise SmokeError(f"cannot describe model package {package_arn}: {_describe(err)}") from None
    containers = package.get("InferenceSpecification", {}).get("Containers") or [{}]
    url = containers[0].get("ModelDataUrl")
    if not url:
        raise SmokeError(
            f"model package {package_arn} has no InferenceSpecification.Containers[0].ModelDataUrl: "
            "no model.tar.gz to predict the held-out rows with"
        )
    dataset = (package.get("CustomerMetadataProperties") or {}).get(LINEAGE_DATASET, "")
    if not dataset.startswith("s3://"):
        raise SmokeError(
            f"model package {package_arn} records no {LINEAGE_DATASET} (the S3 dataset run it was trained on, "
            f"got {dataset!r}): it was registered by an older training pipeline; retrain it to smoke-test it"
        )
    return Package(package_arn, str(url), dataset)


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key:
        raise SmokeError(f"ModelDataUrl {url!r} is not an s3://bucket/key URL")
    return bucket, key


def extract_model(archive_file: IO[bytes], url: str, into: Path) -> None:
    """The model and its feature schema from a model tarball (gzip or not; members ``x`` or ``./x``), nothing else."""
    try:
        with tarfile.open(fileobj=archive_file, mode="r:*") as archive:
            for member in archive:
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                if name in MODEL_MEMBERS and member.isfile():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        (into / name).write_bytes(extracted.read())
    except (tarfile.TarError, EOFError, OSError) as err:
        raise SmokeError(f"{url} is not a readable tar archive: {err}") from None
    missing = [name for name in MODEL_MEMBERS if not (into / name).is_file()]
    if missing:
        raise SmokeError(f"{url} has no {' and no '.join(missing)}: it is not a model this project's train wrote")


def load_package_model(s3: Any, url: str) -> Predictor:
    """The package's own model, in-process: stream model.tar.gz into a temporary file, read the two model files."""
    bucket, key = split_s3_url(url)
    with tempfile.TemporaryDirectory(prefix="esteira-smoke-") as tmp, tempfile.TemporaryFile() as archive_file:
        try:
            s3.download_fileobj(Bucket=bucket, Key=key, Fileobj=archive_file)
        except (ClientError, BotoCoreError) as err:
            raise SmokeError(f"cannot download {url}: {_describe(err)}") from None
        archive_file.seek(0)
        extract_model(archive_file, url, Path(tmp))
        try:
            return Predictor.load(Path(tmp), nthread=0)
        except ModelLoadError as err:
            raise SmokeError(f"the model in {url} cannot be loaded: {err}") from None


# ------------------------------------------------------------------------------------------------ endpoint


class EndpointInvoker:
    """:class:`pipeline.serving.CsvInvoker` over ``InvokeEndpoint``: headerless CSV in, ``label,score`` lines out."""

    def __init__(self, runtime: Any, endpoint_name: str) -> None:
        self._runtime = runtime
        self.endpoint_name = endpoint_name
        self.requests = 0

    def invoke_csv(self, lines: Sequence[str]) -> list[str]:
        body = ("\n".join(lines) + "\n").encode()
        try:
            response = self._runtime.invoke_endpoint(
                EndpointName=self.endpoint_name, Body=body, ContentType=CSV, Accept=CSV
            )
            payload: str = response["Body"].read().decode()
        except (ClientError, BotoCoreError) as err:
            raise SmokeError(f"endpoint {self.endpoint_name}: {_describe(err)}") from None
        self.requests += 1
        out = payload.splitlines()
        if len(out) != len(lines):
            raise SmokeError(f"endpoint {self.endpoint_name} returned {len(out)} lines for {len(lines)} records")
        return out


# ------------------------------------------------------------------------------------------------ main


def run(args: argparse.Namespace) -> tuple[SmokeResult, Package]:
    region = args.region or arn_region(args.model_package_arn)
    session = make_session(region, args.role_arn)
    try:
        sagemaker = session.client("sagemaker")
        s3 = session.client("s3")
        runtime = session.client("sagemaker-runtime")
    except BotoCoreError as err:
        raise SmokeError(f"cannot create AWS clients: {err} (pass --region or set AWS_REGION)") from None
    package = describe_package(sagemaker, args.model_package_arn)
    predictor = load_package_model(s3, package.model_data_url)
    try:
        try:
            frame = read_holdout(package.dataset_uri, s3)
        except (ClientError, BotoCoreError) as err:
            raise SmokeError(f"cannot read the held-out rows of {package.dataset_uri}: {_describe(err)}") from None
        features, labels = split_rows(frame, predictor)
        result = smoke_test(
            features,
            labels,
            predictor,
            EndpointInvoker(runtime, args.endpoint_name),
            Gate(args.gate_metric, args.gate_threshold),
            rows_per_request=args.rows_per_request,
            min_match_rate=args.min_match_rate,
        )
    except SmokeInputError as err:
        raise SmokeError(f"{err} (dataset run {package.dataset_uri}, package {package.arn})") from None
    return result, package


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the error (or --help)
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    try:
        result, package = run(args)
    except SmokeError as err:
        print(f"smoke test error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_ERROR
    summary = {
        **result.to_json(),
        "endpoint": args.endpoint_name,
        "package": package.arn,
        "dataset": package.dataset_uri,
    }
    print(json.dumps(summary), flush=True)
    print(
        f"{result.sentence()} (package {package.arn}, endpoint {args.endpoint_name}, dataset {package.dataset_uri})",
        file=sys.stderr,
    )
    return EXIT_PASSED if result.passed else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
