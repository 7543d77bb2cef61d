"""Which curated runs the dataset job reads, and how it clears a run's outputs, on S3 (moto server over HTTP)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from esteira_dataset.inputs import InputError, InputRun, committed_runs
from esteira_dataset.outputs import Layout
from esteira_dataset.spec import parse_dataset_spec
from tests.glue_jobs.conftest import AwsEndpoint
from tests.glue_jobs.dataset_data import demo_document

BUCKET = "esteira-curated-inputs"


def _manifest(run_id: str, dt: str, rows: int, started_at: str, **extra: Any) -> str:
    spec = parse_dataset_spec(demo_document()).extraction
    body = {
        "spec_name": spec.name,
        "run_id": run_id,
        "run_date": dt,
        "rows_written": rows,
        "started_at": started_at,
        "output_schema": [{"name": c.name, "type": c.type} for c in spec.output_columns],
    }
    return json.dumps(body | extra)


@pytest.fixture
def s3(aws: AwsEndpoint) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    keys = [{"Key": o["Key"]} for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})
    client.delete_bucket(Bucket=BUCKET)


def test_given_manifests_on_s3_when_listed_then_committed_runs_come_oldest_first_without_latest(s3: Any) -> None:
    # GIVEN two runs on one day (the later one started later but sorts first by id), one the day before,
    # latest.json, and a run folder with no manifest
    put = s3.put_object
    put(
        Bucket=BUCKET,
        Key="curated/_manifests/dt=2025-06-02/jr_aaa.json",
        Body=_manifest("jr_aaa", "2025-06-02", 5, "T2"),
    )
    put(
        Bucket=BUCKET,
        Key="curated/_manifests/dt=2025-06-02/jr_zzz.json",
        Body=_manifest("jr_zzz", "2025-06-02", 0, "T1"),
    )
    put(
        Bucket=BUCKET,
        Key="curated/_manifests/dt=2025-06-01/jr_mmm.json",
        Body=_manifest("jr_mmm", "2025-06-01", 9, "T9"),
    )
    put(Bucket=BUCKET, Key="curated/_manifests/latest.json", Body=_manifest("jr_aaa", "2025-06-02", 5, "T2"))
    put(Bucket=BUCKET, Key="curated/dt=2025-06-03/run_id=orphan/part-0.parquet", Body=b"PAR1")

    runs = committed_runs(f"s3://{BUCKET}/curated", parse_dataset_spec(demo_document()))

    assert runs == [
        InputRun("2025-06-01", "jr_mmm", 9, "T9"),
        InputRun("2025-06-02", "jr_zzz", 0, "T1"),
        InputRun("2025-06-02", "jr_aaa", 5, "T2"),
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"spec_name": "other"}, "is for spec 'other', not 'employees'"),
        ({"output_schema": [{"name": "salario", "type": "string"}]}, "salario (string there, double in the spec)"),
        ({"rows_written": "many"}, "is not an extraction manifest"),
    ],
)
def test_given_a_manifest_that_does_not_fit_the_spec_when_listed_then_the_error_names_it(
    s3: Any, extra: dict[str, Any], expected: str
) -> None:
    key = "curated/_manifests/dt=2025-06-01/jr_1.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=_manifest("jr_1", "2025-06-01", 1, "T", **extra))

    with pytest.raises(InputError) as caught:
        committed_runs(f"s3://{BUCKET}/curated", parse_dataset_spec(demo_document()))

    assert expected in str(caught.value)
    assert key in str(caught.value) or "jr_1" in str(caught.value)


def test_given_a_run_written_on_s3_when_cleared_then_only_that_run_and_its_batch_input_go(s3: Any) -> None:
    layout = Layout.of(f"s3://{BUCKET}/datasets", "r1", f"s3://{BUCKET}/batch-input")
    keep = ["datasets/run_id=r10/train/part-0.parquet", "batch-input/run_id=r10/part-0.csv"]
    drop = ["datasets/run_id=r1/manifest.json", "datasets/run_id=r1/train/part-0.parquet"]
    drop += ["batch-input/run_id=r1/part-0.csv"]
    for key in keep + drop:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")

    layout.clear()

    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
    assert left == sorted(keep)
