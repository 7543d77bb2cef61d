"""The dataset job with ``--predictions_uri``: the report and the ground truth end to end on local Spark.

The predictions are laid out as a transform run leaves them: the launcher's own scoring record (the contract
round trip: written by ``batch.launcher.scoring``, read by the job) beside ``.out`` lines.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from pyspark.sql import SparkSession

from batch.launcher.scoring import scoring_record
from esteira_contracts import quality as q
from esteira_dataset.job import run
from esteira_dataset.quality_io import QualityInputError, find_scoring_runs, read_scoring
from tests.glue_jobs.conftest import AwsEndpoint
from tests.glue_jobs.dataset_data import AS_OF, Lake, demo_document, employee
from tests.glue_jobs.test_dataset_quality import assert_close, reference

KEYS = range(1, 41)
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/esteira-dev-model/7"
SCORING_RUN = "esteira-dev-20250601-020000"


def admitted(number: int) -> date:
    """Every third employee was hired less than 12 months ago: their label is open unless they left."""
    return date(2025, 1, 15) if number % 3 == 0 else date(2022, 3, 1) + timedelta(days=number)


def label(number: int) -> int:
    return int(number % 4 == 0)


def score(number: int) -> float:
    return round((number * 37 % 100) / 100, 2)


def is_final(number: int) -> bool:
    return label(number) == 1 or number % 3 != 0


def write_scoring_run(root: Path, run_id: str, record: dict[str, Any] | None, lines: list[str]) -> None:
    folder = root / run_id
    folder.mkdir(parents=True)
    if record is not None:
        (folder / "_scoring.json").write_text(json.dumps(record, indent=2))
    (folder / "part-00000.csv.out").write_text("".join(f"{line}\n" for line in lines))


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("quality-lake"), demo_document())
    rows = [
        employee(n, admitted=admitted(n), updated=datetime(2025, 5, 1) + timedelta(minutes=n), label=label(n))
        for n in KEYS
    ]
    lake.write_run(spark, "2025-06-01", "ext-1", rows)
    outputs = lake.root / "batch-output"
    scored_at = datetime(2025, 6, 1, 2, tzinfo=UTC)
    record = scoring_record(SCORING_RUN, PACKAGE, {"CustomerMetadataProperties": {}}, "ds-0", scored_at)
    write_scoring_run(outputs, SCORING_RUN, record, [f"F{n:07d},{int(score(n) >= 0.5)},{score(n)}" for n in KEYS])
    # A run folder without a scoring record (a launch before records existed): never read.
    write_scoring_run(outputs, "esteira-dev-20250501-020000", None, [f"F{n:07d},1,0.99" for n in KEYS])
    return lake


def test_given_scored_records_whose_labels_are_final_when_the_job_runs_then_it_writes_report_and_ground_truth(
    spark: SparkSession, lake: Lake
) -> None:
    # GIVEN 40 scored employees, of whom those hired over a year ago or who left have a final label
    quality, truth = lake.root / "monitoring" / "model-quality", lake.root / "monitoring" / "ground-truth"
    args = lake.args(
        "ds-q",
        predictions_uri=str(lake.root / "batch-output"),
        quality_uri=str(quality),
        ground_truth_uri=str(truth),
    )
    before = datetime.now(UTC)
    # WHEN the dataset job runs
    manifest = run(spark, args)
    # THEN the report holds the one model version, its figures those of the reference on the final labels
    report_path = quality / "run_id=ds-q" / "report.json"
    report = json.loads(report_path.read_text())
    final = [n for n in KEYS if is_final(n)]
    assert (report["dataset_run_id"], report["as_of_date"], report["latest_model_version"]) == (
        "ds-q",
        AS_OF.isoformat(),
        "7",
    )
    [model] = report["models"]
    assert (model["model_package_arn"], model["threshold"], model["scoring_runs"]) == (PACKAGE, 0.5, [SCORING_RUN])
    assert_close(model, reference([(score(n), label(n)) for n in final], 0.5))
    # AND the ground truth lists each labelled record once, in an hour folder of the run's time
    [written] = sorted(truth.rglob("*.jsonl"))
    hour = written.parent.relative_to(truth)
    assert written.name == "ds-q.jsonl"
    assert datetime.strptime(str(hour), "%Y/%m/%d/%H").replace(tzinfo=UTC) >= before.replace(
        minute=0, second=0, microsecond=0
    )
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert sorted((line["eventMetadata"]["eventId"], line["groundTruthData"]["data"]) for line in lines) == [
        (f"F{n:07d}", str(label(n))) for n in final
    ]
    assert {(line["eventVersion"], line["groundTruthData"]["encoding"]) for line in lines} == {("0", "CSV")}
    # AND the manifest says where both are
    assert manifest["status"] == "ok"
    assert manifest["model_quality"] == {
        "report": str(report_path),
        "ground_truth": str(written),
        "ground_truth_records": len(final),
        "latest_model_version": "7",
        "model_versions": ["7"],
        "reason": None,
    }


def test_given_no_predictions_yet_when_the_job_runs_then_the_report_says_why_and_the_job_succeeds(
    spark: SparkSession, tmp_path: Path
) -> None:
    # GIVEN an empty lake and a predictions folder that does not exist yet
    empty = Lake(tmp_path, demo_document())
    quality = tmp_path / "model-quality"
    args = empty.args("ds-e", predictions_uri=str(tmp_path / "batch-output"), quality_uri=str(quality))
    # WHEN the job runs
    manifest = run(spark, args)
    # THEN it ends as usual, and the report has no models and a reason
    report = json.loads((quality / "run_id=ds-e" / "report.json").read_text())
    assert manifest["status"] == "no_new_data"
    assert (report["models"], report["reason"], report["task"]) == ([], q.REASON_NO_SCORING_RECORDS, None)
    assert manifest["model_quality"]["ground_truth"] is None


def test_given_a_scoring_record_that_is_not_one_when_read_then_the_error_names_the_object(
    spark: SparkSession, tmp_path: Path
) -> None:
    write_scoring_run(tmp_path, "run-bad", {"run_id": "run-bad", "model_version": "3"}, ["F0000001,1,0.9"])

    with pytest.raises(QualityInputError, match=r"scoring record .*run-bad/_scoring.json is not a scoring record"):
        read_scoring(spark, find_scoring_runs(str(tmp_path)))


def test_given_transform_runs_in_s3_when_found_then_only_runs_with_a_record_and_their_own_outputs_count(
    aws: AwsEndpoint,
) -> None:
    # GIVEN the predictions bucket (moto, over HTTP) with a recorded run, an unrecorded one and the fan-out's files
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="quality-predictions")
    for key in (
        "batch-output/run-1/_scoring.json",
        "batch-output/run-1/part-00000.csv.out",
        "batch-output/run-1/nested/part-00001.csv.out",
        "batch-output/run-0/part-00000.csv.out",
        "_fanout/run-1.json",
    ):
        s3.put_object(Bucket="quality-predictions", Key=key, Body=b"{}")
    # WHEN the quality step looks for scoring runs
    found = find_scoring_runs("s3://quality-predictions/batch-output/")
    # THEN it finds the recorded run and the .out files directly in its folder
    assert found.records == {"run-1": "s3://quality-predictions/batch-output/run-1/_scoring.json"}
    assert found.outputs == ["s3://quality-predictions/batch-output/run-1/part-00000.csv.out"]
