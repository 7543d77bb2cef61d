"""Evaluate a finished training job: read its evaluation.json, publish it, gate it and describe its lineage."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from common.registry import newest_approved_package
from esteira_contracts.layout import EVALUATION_FILENAME
from esteira_contracts.training import Champion, EvaluateResult, EvaluateSettings
from training.errors import InvalidEvaluation, InvalidRequest
from training.evaluate.archive import find_evaluation
from training.evaluate.comparison import Scores, scores
from training.evaluate.gate import GateResult, gate
from training.s3uri import S3Uri

logger = Logger(child=True)

UNKNOWN_DIGEST = "unknown"
METRIC_KEY_PREFIX = "metric."
# CreateModelPackage CustomerMetadataProperties limits.
MAX_METADATA_ENTRIES = 50
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 256
_METADATA_PUNCTUATION = frozenset("_.:/=+-@")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}$")
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_.-]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_LINEAGE_KEY = re.compile(r"^[a-z0-9_]{1,40}$")
RESERVED_LINEAGE = frozenset({"data", "manifest", "image", "image_digest", "training_job"})
_IMAGE_GONE = frozenset({"ImageNotFoundException", "RepositoryNotFoundException", "AccessDeniedException"})


@dataclass(frozen=True)
class EvaluateRequest:
    training_job_name: str
    model_artifacts: S3Uri
    training_image: str
    train_uri: str
    manifest_uri: str
    champion_package_arn: str | None  # the champion Prepare had the training job score on the holdout
    lineage: dict[str, str]  # extra "lineage.<key>" metadata from the caller (execution, git commit, ...)

    @classmethod
    def from_event(cls, event: Any) -> EvaluateRequest:
        if not isinstance(event, dict):
            raise InvalidRequest(f"the evaluate input must be a JSON object, got {type(event).__name__}")
        problems: list[str] = []
        job = event.get("training_job_name")
        if not isinstance(job, str) or not _JOB_NAME.match(job):
            problems.append(f"training_job_name {job!r} is missing or not a SageMaker job name")
            job = ""
        artifacts_text = event.get("model_artifacts")
        if artifacts_text is None and job and isinstance(event.get("output_uri"), str):
            artifacts_text = f"{event['output_uri'].rstrip('/')}/{job}/output/model.tar.gz"
        artifacts = S3Uri("-", "")
        try:
            artifacts = S3Uri.parse(artifacts_text)
            if not artifacts.key.endswith(".tar.gz"):
                problems.append(f"model_artifacts {artifacts_text!r} is not a .tar.gz object")
        except ValueError as exc:
            problems.append(f"model_artifacts: {exc}")
        image = event.get("training_image")
        if not isinstance(image, str) or not image.strip():
            problems.append(f"training_image {image!r} is missing")
        for key in ("train_uri", "manifest_uri"):
            try:
                S3Uri.parse(event.get(key))
            except ValueError as exc:
                problems.append(f"{key}: {exc} (pass the prepare step's output through)")
        champion_arn = event.get("champion_package_arn")
        if champion_arn is not None and (not isinstance(champion_arn, str) or ":model-package/" not in champion_arn):
            problems.append(f"champion_package_arn {champion_arn!r} is not a model package ARN")
            champion_arn = None
        lineage = event.get("lineage") or {}
        if not isinstance(lineage, dict):
            problems.append(f"lineage must be an object of strings, got {type(lineage).__name__}")
            lineage = {}
        for key, value in lineage.items():
            if not isinstance(key, str) or not _LINEAGE_KEY.match(key) or key in RESERVED_LINEAGE:
                problems.append(
                    f"lineage key {key!r} must match {_LINEAGE_KEY.pattern} and not be one of "
                    f"{sorted(RESERVED_LINEAGE)}"
                )
            elif not isinstance(value, str):
                problems.append(f"lineage.{key} must be a string, got {type(value).__name__}")
        if problems:
            raise InvalidRequest("; ".join(problems))
        return cls(
            job,
            artifacts,
            str(image).strip(),
            event["train_uri"],
            event["manifest_uri"],
            champion_arn,
            {str(key): str(value) for key, value in lineage.items()},
        )


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]  # finite numeric metrics only (of the rows the gate compares)
    value: float  # the gate metric
    scores: Scores


def parse_evaluation(raw: bytes, source: S3Uri, metric: str) -> Evaluation:
    try:
        body = json.loads(raw)  # the container writes NaN for undefined metrics, which json accepts
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvaluation(f"{EVALUATION_FILENAME} in {source} is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("validation"), dict):
        raise InvalidEvaluation(f"{EVALUATION_FILENAME} in {source} has no 'validation' object of metrics")
    found = scores(body, metric, f"{EVALUATION_FILENAME} of {source}")
    return Evaluation(metrics=found.metrics, value=found.value, scores=found)


def find_champion(sagemaker: Any, group: str, metric: str, arn: str | None = None) -> Champion | None:
    """The newest Approved package of ``group`` (or ``arn``, the one Prepare had scored on the holdout) and its
    ``metric.<metric>`` customer metadata, if any."""
    if arn is None:
        arn = newest_approved_package(sagemaker, group)
        if arn is None:
            return None
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    raw = (described.get("CustomerMetadataProperties") or {}).get(f"{METRIC_KEY_PREFIX}{metric}")
    try:
        value: float | None = float(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is not None and not math.isfinite(value):
        value = None
    if value is None:
        logger.warning(
            "the champion has no usable metric; gating on the threshold only",
            extra={"champion": arn, "key": f"{METRIC_KEY_PREFIX}{metric}", "value": raw},
        )
    return Champion(arn=arn, metric_value=value)


def resolve_image_digest(ecr: Callable[[str], Any], image: str) -> str:
    """``sha256:...`` of the training image (from the URI itself, else ECR DescribeImages), or ``unknown``."""
    match = _ECR_IMAGE.match(image)
    if match is None:
        logger.warning("the training image is not an ECR image URI; its digest is unknown", extra={"image": image})
        return UNKNOWN_DIGEST
    if match["digest"]:
        return match["digest"]
    tag = match["tag"] or "latest"
    try:
        response = ecr(match["region"]).describe_images(
            registryId=match["account"], repositoryName=match["repository"], imageIds=[{"imageTag": tag}]
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in _IMAGE_GONE:
            raise
        logger.warning("cannot resolve the training image's digest", extra={"image": image, "error": code})
        return UNKNOWN_DIGEST
    details = response.get("imageDetails") or []
    digest = details[0].get("imageDigest") if details else None
    return str(digest) if digest else UNKNOWN_DIGEST


def _metadata_text_ok(text: str, limit: int) -> bool:
    """CustomerMetadataProperties' pattern ``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`` and length limit."""
    return 0 < len(text) <= limit and all(
        c.isalnum() or unicodedata.category(c).startswith("Z") or c in _METADATA_PUNCTUATION for c in text
    )


def customer_metadata(metrics: dict[str, float], gate_metric: str, lineage: dict[str, str]) -> dict[str, str]:
    """String-only metadata for CreateModelPackage: ``metric.<name>`` (repr of the float) plus ``lineage.*``."""
    for key, value in lineage.items():
        if not _metadata_text_ok(value, MAX_METADATA_VALUE):
            raise InvalidRequest(
                f"{key}={value!r} cannot be stored as model package metadata (at most {MAX_METADATA_VALUE} "
                "characters of letters, digits, spaces and _.:/=+-@)"
            )
    room = MAX_METADATA_ENTRIES - len(lineage)
    names = [gate_metric, *sorted(n for n in metrics if n != gate_metric)]
    entries: dict[str, str] = {}
    for name in names:
        key = f"{METRIC_KEY_PREFIX}{name}"
        if not _metadata_text_ok(key, MAX_METADATA_KEY):
            logger.warning("metric name not allowed as model package metadata; skipped", extra={"metric": name})
            continue
        if len(entries) >= room:
            logger.warning("too many metrics for model package metadata; the rest are skipped", extra={"kept": room})
            break
        entries[key] = repr(metrics[name])
    return entries | lineage


def evaluate(
    event: Any, settings: EvaluateSettings, s3: Any, sagemaker: Any, ecr: Callable[[str], Any]
) -> EvaluateResult:
    request = EvaluateRequest.from_event(event)
    source, raw = find_evaluation(s3, request.model_artifacts)
    evaluation = parse_evaluation(raw, source, settings.gate_metric)

    published = S3Uri(settings.artifacts_bucket, "").join(
        settings.model_prefix, request.training_job_name, EVALUATION_FILENAME
    )
    s3.put_object(Bucket=published.bucket, Key=published.key, Body=raw, ContentType="application/json")

    champion = find_champion(
        sagemaker, settings.model_package_group, settings.gate_metric, request.champion_package_arn
    )
    compared = evaluation.scores
    champion_value = compared.champion_value
    if champion_value is None and champion is not None:
        champion_value = champion.metric_value
    verdict = gate(
        metric=settings.gate_metric,
        value=evaluation.value,
        threshold=settings.gate_threshold,
        min_improvement=settings.min_improvement,
        maximize=settings.maximize,
        has_champion=champion is not None or compared.same_rows,
        champion_value=champion_value,
    )
    stored = champion is not None and champion.metric_value is not None and not compared.same_rows
    result = GateResult(verdict.passed, f"{verdict.reason} ({compared.rows_compared(stored)})")
    digest = resolve_image_digest(ecr, request.training_image)
    lineage = {
        "lineage.data": request.train_uri,
        "lineage.manifest": request.manifest_uri,
        "lineage.image": request.training_image,
        "lineage.image_digest": digest,
        "lineage.training_job": request.training_job_name,
        **{f"lineage.{key}": value for key, value in sorted(request.lineage.items())},
    }
    output = EvaluateResult(
        passed=result.passed,
        reason=result.reason,
        metrics=evaluation.metrics,
        metric_name=settings.gate_metric,
        metric_value=evaluation.value,
        champion=champion,
        evaluation_uri=str(published),
        evaluation_source=str(source),
        image_digest=digest,
        customer_metadata=customer_metadata(evaluation.metrics, settings.gate_metric, lineage),
    )
    logger.info("evaluated training job", extra={"training_job_name": request.training_job_name, **output.to_payload()})
    return output
