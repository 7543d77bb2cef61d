"""Evaluate with a holdout: the candidate gated on the holdout rows, compared with the champion on the same rows."""

from __future__ import annotations

import json
from typing import Any

from esteira_contracts.training import EvaluateSettings
from tests.lambdas.training.helpers import TrainingResources, fixture_json
from training.evaluate.logic import evaluate


def run(aws: TrainingResources, event: dict[str, Any] | None = None, **env: str) -> dict[str, Any]:
    settings = EvaluateSettings.from_env(aws.evaluate_env(**env))
    result = evaluate(event or aws.evaluate_event(), settings, aws.s3, aws.sagemaker, lambda _region: aws.ecr)
    return result.to_payload()


def with_holdout(candidate: float, champion: float | None, *, scored: bool = True) -> bytes:
    """evaluation.json as the training job writes it with holdout and champion channels."""
    body = fixture_json("evaluation/binary.json")
    body["rows"]["holdout"] = 60
    body["holdout_source"] = "holdout"
    body["holdout"] = dict(body["validation"], auc=candidate)
    if scored:
        body["champion_holdout"] = None if champion is None else dict(body["validation"], auc=champion)
        body["champion_model"] = {"comparable": champion is not None, "reason": "" if champion else "another task"}
    return json.dumps(body).encode()


def test_candidate_and_champion_are_compared_on_the_same_holdout(aws: TrainingResources) -> None:
    # GIVEN a champion whose stored metric (0.70) is lower than its score on this run's holdout (0.86)
    champion = aws.create_package("Approved", {"metric.auc": "0.70"})
    aws.put_tarball("output.tar.gz", {"evaluation.json": with_holdout(candidate=0.85, champion=0.86)})
    # WHEN evaluate runs (validation auc 0.873 would beat 0.70)
    out = run(aws, event=aws.evaluate_event() | {"champion_package_arn": champion})
    # THEN the holdout decides: 0.85 on the holdout does not beat the champion's 0.86 on the same rows
    assert out["passed"] is False
    assert out["metric_value"] == 0.85
    assert out["metrics"]["auc"] == 0.85
    assert "does not beat champion 0.86" in out["reason"]
    assert out["reason"].endswith("(candidate and champion scored on the same 60 holdout rows)")


def test_the_holdout_metric_gates_a_candidate_without_champion(aws: TrainingResources) -> None:
    # GIVEN a holdout auc under the threshold while the validation auc (0.873) is over it
    aws.put_tarball("output.tar.gz", {"evaluation.json": with_holdout(candidate=0.75, champion=None, scored=False)})
    # WHEN evaluate runs THEN the holdout metric fails the 0.8 gate
    out = run(aws)
    assert out["passed"] is False
    assert out["reason"] == "auc 0.75 < threshold 0.8 (the candidate on 60 holdout rows)"


def test_an_incomparable_champion_falls_back_to_its_stored_metric(aws: TrainingResources) -> None:
    # GIVEN a champion the job could not score on the holdout (champion_holdout: null) and its stored 0.80
    aws.create_package("Approved", {"metric.auc": "0.80"})
    aws.put_tarball("output.tar.gz", {"evaluation.json": with_holdout(candidate=0.84, champion=None)})
    # WHEN evaluate runs THEN the candidate's holdout 0.84 is compared with the stored 0.80, and the reason says so
    out = run(aws)
    assert out["passed"] is True
    assert out["reason"].endswith("(the candidate on 60 holdout rows; the champion's stored metric)")
