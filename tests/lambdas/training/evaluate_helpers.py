"""Shared by Evaluate's tests: run it on moto, and the binary evaluation.json fixture."""

from __future__ import annotations

import json
from typing import Any

from esteira_contracts.training import EvaluateSettings
from tests.lambdas.training.helpers import TrainingResources, fixture_bytes, fixture_json
from training.evaluate.logic import evaluate

BINARY = fixture_bytes("evaluation/binary.json")
BINARY_AUC = fixture_json("evaluation/binary.json")["validation"]["auc"]


def run(aws: TrainingResources, event: dict[str, Any] | None = None, **env: str) -> dict[str, Any]:
    settings = EvaluateSettings.from_env(aws.evaluate_env(**env))
    result = evaluate(event or aws.evaluate_event(), settings, aws.s3, aws.sagemaker, lambda _region: aws.ecr)
    return result.to_payload()


def with_auc(auc: float) -> bytes:
    body = fixture_json("evaluation/binary.json")
    body["validation"]["auc"] = auc
    return json.dumps(body).encode()
