"""The Glue dataset job's part in tests/stacks/test_training_execution.py (moto runs no Glue `.sync`).

Invoked in place of the Dataset state with that state's own arguments, it writes what the job leaves behind: the
run's manifest.json and, with data, one batch-input file. An extraction run id containing ``nodata`` plays a run
whose rows have no final label (``status: no_new_data``). Returns a GetJobRun-shaped result for the state's
ResultSelector.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

NO_DATA_MARKER = "nodata"
SPEC_NAME = "employees"
FEATURES = ("idade", "salario")


def _put(uri: str, body: bytes) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


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
        "counts": {"train": 0 if no_data else 70},
    }
    if not no_data:
        _put(f"{arguments['--batch_input_uri']}run_id={run_id}/part-00000.csv", b"101,1.0,2.0\n")
    _put(f"{arguments['--datasets_uri']}run_id={run_id}/manifest.json", json.dumps(manifest).encode())
    return {"Id": f"jr_{run_id}", "JobRunState": "SUCCEEDED", "JobName": event["JobName"]}
