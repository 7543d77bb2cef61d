"""SageMaker Clarify's part in tests/stacks/test_training_execution.py (moto runs no SageMaker `.sync`).

Invoked in place of a Clarify state with that state's own output folder, it writes what the job leaves behind:
Clarify's ``analysis.json`` (tests/fixtures/bias/, shaped as the docs document it). An extraction run id
containing ``biased`` plays a candidate whose predictions favour one group: disparate impact 0.5 for masculino=1;
one containing ``clarifyfails`` a bias job that fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

BIASED_MARKER = "biased"
BIASED_DI = 0.5
FAILING_MARKER = "clarifyfails"


class ClarifyJobFailed(RuntimeError):  # noqa: N818 - the name the state machine records
    """What the failing job raises (its name is the error the state machine records)."""


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bias"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    kind = event["kind"]
    if FAILING_MARKER in event["extraction_run_id"]:
        raise ClarifyJobFailed(f"{event['job_name']}: ClientError: the dataset has no column desligado_em_12_meses")
    analysis = json.loads((FIXTURES / f"analysis_{kind}.json").read_text())
    if kind == "bias" and BIASED_MARKER in event["extraction_run_id"]:
        for metric in analysis["post_training_bias_metrics"]["facets"]["masculino"][0]["metrics"]:
            if metric["name"] == "DI":
                metric["value"] = BIASED_DI
    bucket, _, key = event["output_uri"].removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=f"{key}analysis.json", Body=json.dumps(analysis).encode())
    return {"ProcessingJobName": event["job_name"], "ProcessingJobStatus": "Completed"}
