"""The Glue dataset job's part in tests/stacks/test_training_execution.py (moto runs no Glue `.sync`).

Invoked in place of the Dataset state with that state's own arguments, it writes what the job leaves behind: the
run's manifest.json and, with data, one batch-input file and the run's model-quality report (in the artifacts
bucket, beside datasets/). An extraction run id containing ``nodata`` plays a run whose rows have no final label
(``status: no_new_data``); one containing ``noquality`` a run whose quality step wrote no report. Returns a
GetJobRun-shaped result for the state's ResultSelector.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

NO_DATA_MARKER = "nodata"
NO_QUALITY_MARKER = "noquality"
SMALL_HOLDOUT_MARKER = "smallholdout"
HOLDOUT_ROWS = 1000  # the bias fixture's CI 0.08 and 0.41: groups of 460/540 and 295/705 rows
SMALL_HOLDOUT_ROWS = 150  # groups of 69/81 and 44/106 rows: under the floor of 100
SPEC_NAME = "employees"
FEATURES = ("idade", "salario")
# The report a second run writes once labels of the first run's predictions are final: version 1 serves.
QUALITY_MODEL = {
    "model_package_arn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/esteira-dev-model/1",
    "model_version": "1",
    "threshold": 0.5,
    "scoring_runs": ["esteira-dev-batch-20261201-050000"],
    "labelled_predictions": 250,
    "positives": 80,
    "auc": 0.71,
    "precision": 0.6,
    "recall": 0.55,
    "f1": 0.57,
    "brier_score": 0.2,
    "calibration": [],
}


def _put(uri: str, body: bytes) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def _holdout_rows(event: dict[str, Any]) -> int:
    """The holdout's rows: a run id containing SMALL_HOLDOUT_MARKER plays a holdout too small for the bias gate's
    evidence floor (training.bias.gate.min_facet_rows) to judge any facet group."""
    return SMALL_HOLDOUT_ROWS if SMALL_HOLDOUT_MARKER in event["extraction_run_id"] else HOLDOUT_ROWS


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    arguments = event["Arguments"]
    run_id = arguments["--run_id"]
    no_data = NO_DATA_MARKER in event["extraction_run_id"]
    status = "no_new_data" if no_data else "ok"
    manifest = {
        "run_id": run_id,
        "status": status,
        "spec_name": SPEC_NAME,
        "features": list(FEATURES),
        "counts": {"splits": {"train": {"rows": 0 if no_data else 70}, "holdout": {"rows": _holdout_rows(event)}}},
    }
    if not no_data:
        _put(f"{arguments['--batch_input_uri']}run_id={run_id}/part-00000.csv", b"101,1.0,2.0\n")
    if not no_data and NO_QUALITY_MARKER not in event["extraction_run_id"]:
        report = {
            "report_version": 1,
            "dataset_run_id": run_id,
            "as_of_date": "2026-12-06",
            "spec_name": SPEC_NAME,
            "label_column": "desligado_em_12_meses",
            "task": "binary",
            "latest_model_version": QUALITY_MODEL["model_version"],
            "reason": None,
            "models": [QUALITY_MODEL],
        }
        artifacts = arguments["--datasets_uri"].removeprefix("s3://").partition("/")[0]
        key = f"monitoring/model-quality/run_id={run_id}/report.json"
        _put(f"s3://{artifacts}/{key}", json.dumps(report).encode())
    _put(f"{arguments['--datasets_uri']}run_id={run_id}/manifest.json", json.dumps(manifest).encode())
    return {"Id": f"jr_{run_id}", "JobRunState": "SUCCEEDED", "JobName": event["JobName"]}
