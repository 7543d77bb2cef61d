"""``python -m pipeline.smoke``: the CD pipeline's smoke test of a deployed SageMaker endpoint.

The model package's ``model.tar.gz`` carries its own held-out rows (``smoke/holdout.csv``, written by ``train``
from validation rows it never trained on: the label as ``serve`` spells a predicted label, then the features in
request order). This sends them to the endpoint as ``text/csv`` through :func:`pipeline.serving.smoke_test`, the
code the local run uses, and compares the predicted labels with the true ones::

    python -m pipeline.smoke --endpoint-name esteira-staging-endpoint \\
        --model-package-arn arn:aws:sagemaker:<region>:<account>:model-package/esteira-staging-model/<version> \\
        [--min-match-rate 0.8] [--rows-per-request 500] [--role-arn <role in the endpoint's account>] [--region R]

Steps: assume ``--role-arn`` when given (session ``esteira-smoke-test``); ``DescribeModelPackage``; stream
``InferenceSpecification.Containers[0].ModelDataUrl`` from S3 into a temporary file; read ``smoke/holdout.csv``
from it; ``InvokeEndpoint`` in chunks of ``--rows-per-request``. The region is ``--region``, else the package
ARN's, else the SDK's default.

Prints one JSON line (rows, matches, match_rate, min_match_rate, endpoint, package, ...) on stdout, a sentence
on stderr. Exit status: 0 when the match rate is at least ``--min-match-rate``, 1 below it, 2 when the test could
not run (bad arguments, unknown package, no model data, no held-out rows, endpoint or AWS errors).

Only boto3 is needed (no pandas, no model code). Clients are created when ``main`` runs, so ``AWS_ENDPOINT_URL``
and ``AWS_ENDPOINT_URL_<SERVICE>`` set before then are honoured.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.serving import SmokeResult, smoke_test

HOLDOUT_MEMBER = "smoke/holdout.csv"  # esteira_model.train.SMOKE_HOLDOUT, inside model.tar.gz
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
        description="Smoke-test a SageMaker endpoint with the held-out rows inside a model package's model.tar.gz.",
    )
    parser.add_argument("--endpoint-name", required=True, type=_non_empty, help="the endpoint to invoke")
    parser.add_argument(
        "--model-package-arn", required=True, type=_non_empty, help="the package whose held-out rows to send"
    )
    parser.add_argument(
        "--min-match-rate", type=_rate, default=0.8, help="least share of rows predicted right (default 0.8)"
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


def model_data_url(sagemaker: Any, package_arn: str) -> str:
    try:
        package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except (ClientError, BotoCoreError) as err:
        raise SmokeError(f"cannot describe model package {package_arn}: {_describe(err)}") from None
    containers = package.get("InferenceSpecification", {}).get("Containers") or [{}]
    url = containers[0].get("ModelDataUrl")
    if not url:
        raise SmokeError(
            f"model package {package_arn} has no InferenceSpecification.Containers[0].ModelDataUrl: "
            "no model.tar.gz to read the held-out rows from"
        )
    return str(url)


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key:
        raise SmokeError(f"ModelDataUrl {url!r} is not an s3://bucket/key URL")
    return bucket, key


def read_holdout_member(archive_file: IO[bytes], url: str) -> str:
    """``smoke/holdout.csv`` from a model tarball (gzip or not; members named ``x`` or ``./x``)."""
    try:
        with tarfile.open(fileobj=archive_file, mode="r:*") as archive:
            for member in archive:
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                if name == HOLDOUT_MEMBER and member.isfile():
                    extracted = archive.extractfile(member)
                    if extracted is None:
                        break
                    return extracted.read().decode("utf-8")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise SmokeError(f"{url} is not a readable tar archive: {err}") from None
    except UnicodeDecodeError as err:
        raise SmokeError(f"{HOLDOUT_MEMBER} in {url} is not UTF-8 text: {err}") from None
    raise SmokeError(
        f"{url} has no {HOLDOUT_MEMBER}: the model was trained before train wrote held-out rows, or with "
        "smoke_rows=0, or is a regression model (which has none). Retrain it to smoke-test it."
    )


def download_holdout(s3: Any, url: str) -> str:
    """Stream the tarball into a temporary file (never whole in memory) and read the held-out rows from it."""
    bucket, key = split_s3_url(url)
    with tempfile.TemporaryFile() as archive_file:
        try:
            s3.download_fileobj(Bucket=bucket, Key=key, Fileobj=archive_file)
        except (ClientError, BotoCoreError) as err:
            raise SmokeError(f"cannot download {url}: {_describe(err)}") from None
        archive_file.seek(0)
        return read_holdout_member(archive_file, url)


# ------------------------------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class Holdout:
    columns: tuple[str, ...]  # the label column, then the features in request order
    features: list[str]  # headerless CSV records, as the endpoint takes them
    labels: list[float]


def parse_holdout(text: str, source: str = HOLDOUT_MEMBER) -> Holdout:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SmokeError(f"{source} is empty: no header and no rows")
    columns = tuple(next(csv.reader([lines[0]])))
    if len(columns) < 2:
        raise SmokeError(f"{source} header {lines[0]!r} needs the label column and at least one feature")
    features: list[str] = []
    labels: list[float] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        label, _, record = line.partition(",")
        try:
            labels.append(float(label))
        except ValueError:
            raise SmokeError(f"{source} line {number}: the label {label!r} is not a number") from None
        if record.count(",") != len(columns) - 2:
            raise SmokeError(
                f"{source} line {number} has {record.count(',') + 2} fields; the header has {len(columns)}"
            )
        features.append(record)
    if not features:
        raise SmokeError(f"{source} has a header but no rows: nothing to smoke-test with")
    return Holdout(columns, features, labels)


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


def run(args: argparse.Namespace) -> SmokeResult:
    region = args.region or arn_region(args.model_package_arn)
    session = make_session(region, args.role_arn)
    try:
        sagemaker = session.client("sagemaker")
        s3 = session.client("s3")
        runtime = session.client("sagemaker-runtime")
    except BotoCoreError as err:
        raise SmokeError(f"cannot create AWS clients: {err} (pass --region or set AWS_REGION)") from None
    url = model_data_url(sagemaker, args.model_package_arn)
    holdout = parse_holdout(download_holdout(s3, url), f"{HOLDOUT_MEMBER} in {url}")
    invoker = EndpointInvoker(runtime, args.endpoint_name)
    return smoke_test(invoker, holdout.features, holdout.labels, rows_per_request=args.rows_per_request)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the error (or --help)
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    try:
        result = run(args)
    except SmokeError as err:
        print(f"smoke test error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_ERROR
    passed = result.match_rate >= args.min_match_rate
    summary = {
        "rows": result.rows,
        "matches": result.matches,
        "match_rate": round(result.match_rate, 6),
        "min_match_rate": args.min_match_rate,
        "requests": result.requests,
        "passed": passed,
        "endpoint": args.endpoint_name,
        "package": args.model_package_arn,
    }
    print(json.dumps(summary), flush=True)
    comparison = ">=" if passed else "<"
    verdict = "passed" if passed else "FAILED"
    print(
        f"smoke test {verdict}: match rate {result.match_rate:.4f} {comparison} {args.min_match_rate:g} on "
        f"{result.rows} held-out rows of {args.model_package_arn} sent to endpoint {args.endpoint_name}",
        file=sys.stderr,
    )
    return EXIT_PASSED if passed else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
