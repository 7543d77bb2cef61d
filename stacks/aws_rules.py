"""AWS's documented service rules that our config can break, checked at synth (before any construct is built).

Each rule names the config keys it reads and the page that documents it; docs/aws-rules.md lists them, with the
rules enforced elsewhere (field bounds in stacks/config.py, stacks/construct_rules.py). A broken rule is reported as
``<key>: <what is wrong> [<rule id>: <documentation URL>]``, one line per violation, all at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from esteira_contracts.endpoint_quality import EndpointQualityError, served_threshold
from esteira_contracts.tasks import BINARY, DEFAULT_OBJECTIVE, task_of_objective

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig

CHAMPION_VARIANT: Final = "champion"
SERVERLESS_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"
TRAFFIC_ROUTING_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html"
BLUE_GREEN_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html"
GUARDRAILS_EXCLUSIONS_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html"
)
ENDPOINT_KMS_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html"
SERVERLESS_SCALING_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-autoscale.html"
EVENTBRIDGE_CRON_DOCS: Final = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html"
TUNING_CONFIG_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_HyperParameterTuningJobConfig.html"
)
PUT_METRIC_ALARM_DOCS: Final = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"
)
# PutMetricAlarm: Period x EvaluationPeriods at most 7 days (stacks/construct_rules.py checks metric math ids).
MAX_ALARM_EVALUATION_SECONDS: Final = 7 * 24 * 3600
MODEL_MONITOR_CRON_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-schedule-expression.html"
)
MODEL_QUALITY_JOB_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelQualityJobDefinition.html"
)
MODEL_QUALITY_INPUT_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_EndpointInput.html"
MODEL_QUALITY_SCHEDULE_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-schedule.html"
)
MODEL_QUALITY_KEY: Final = "serving.monitoring.model_quality"

# Application Auto Scaling's scalable dimension per variant type: instance-backed variants scale their instance count,
# serverless ones only their provisioned concurrency (and only when they have some).
INSTANCE_VARIANT_DIMENSION: Final = "sagemaker:variant:DesiredInstanceCount"
SERVERLESS_VARIANT_DIMENSION: Final = "sagemaker:variant:DesiredProvisionedConcurrency"

# Nitro instance types with local NVMe instance storage, encrypted by the instance's hardware: CreateEndpointConfig
# (KmsKeyId), CreateTrainingJob, CreateTransformJob and the monitoring job (VolumeKmsKeyId) refuse a KMS key for them.
# A family with a "d" after its generation (m5d, c5d, r5d, g4dn, p3dn, p4d, m6id, ...) has instance storage; so do
# these families without one.
_LOCAL_STORAGE_FAMILY: Final = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")
_LOCAL_STORAGE_FAMILIES: Final = frozenset({"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2"})

# Model Monitor's accepted schedule expressions: hourly, daily at an hour, every N hours from an hour.
_MODEL_MONITOR_CRON: Final = re.compile(r"^cron\(0 (\*|(0?\d|1\d|2[0-3])(/(0?[1-9]|1\d|2[0-4]))?) \? \* \* \*\)$")
_SIX_FIELD_CRON: Final = re.compile(r"^cron\((?P<fields>(\S+\s){5}\S+)\)$")


@dataclass(frozen=True)
class Rule:
    """One documented rule: the config keys it reads, what AWS requires, where AWS says so."""

    id: str
    keys: tuple[str, ...]
    requirement: str
    url: str
    check: Callable[[EnvironmentConfig], Iterator[tuple[str, str]]]  # yields (key, what is wrong)


def has_local_instance_storage(instance_type: str) -> bool:
    """`ml.m5d.large` -> True: the type's family has NVMe instance storage (no KMS key for its volumes)."""
    parts = instance_type.split(".")
    family = parts[1] if len(parts) == 3 else ""
    return family in _LOCAL_STORAGE_FAMILIES or bool(_LOCAL_STORAGE_FAMILY.match(family))


def is_model_monitor_cron(expression: str) -> bool:
    """A schedule expression Model Monitor accepts (`NOW` is one-off, never a schedule)."""
    return bool(_MODEL_MONITOR_CRON.match(expression))


def _serverless_single_variant(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    serving = config.serving
    if serving.serverless is not None and len(serving.variants) > 1:
        yield (
            "serving.variants",
            f"{len(serving.variants)} variants on a serverless endpoint (serving.serverless): serverless endpoints "
            "serve one production variant",
        )


def _serverless_no_instances(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    if config.serving.serverless is None:
        return
    for index, variant in enumerate(config.serving.variants):
        for key in ("instance_type", "initial_instance_count"):
            if getattr(variant, key) is not None:
                yield (
                    f"serving.variants.{index}.{key}",
                    "a serverless variant has no instances: remove it, or remove serving.serverless",
                )


def _serverless_scaling_dimension(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    serving = config.serving
    # Compared with its defaults, not "was the key given": -c model_package_arn re-validates a dumped config.
    if serving.serverless is not None and serving.autoscaling != type(serving.autoscaling)():
        yield (
            "serving.autoscaling",
            f"scales {INSTANCE_VARIANT_DIMENSION}, which a serverless variant does not have (it scales only "
            f"{SERVERLESS_VARIANT_DIMENSION}, with provisioned concurrency): remove serving.autoscaling",
        )


def _canary_and_linear_sizes(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    rollout = config.serving.rollout
    if rollout.mode == "canary" and rollout.canary_percent > 50:
        yield ("serving.rollout.canary_percent", f"{rollout.canary_percent}% is over 50% of the variant's capacity")
    if rollout.mode == "linear" and not 10 <= rollout.linear_step_percent <= 50:
        yield (
            "serving.rollout.linear_step_percent",
            f"{rollout.linear_step_percent}% is outside 10-50% of the variant's capacity",
        )


def _rollout_fits_its_timeout(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    rollout = config.serving.rollout
    steps = {"canary": 1, "linear": -(-100 // rollout.linear_step_percent) - 1, "all_at_once": 0}[rollout.mode]
    waiting = steps * rollout.wait_minutes + rollout.termination_wait_minutes
    if rollout.maximum_execution_timeout_minutes <= waiting:
        yield (
            "serving.rollout.maximum_execution_timeout_minutes",
            f"{rollout.maximum_execution_timeout_minutes} min is not longer than the rollout's own waits "
            f"({steps} x wait_minutes + termination_wait_minutes = {waiting} min)",
        )


def _stable_champion_name(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    variants = config.serving.variants
    if variants and variants[0].name != CHAMPION_VARIANT:
        yield (
            "serving.variants.0.name",
            f"'{variants[0].name}': the first variant is the one -c model_package_arn= serves, named "
            f"'{CHAMPION_VARIANT}' there; a blue/green update needs the same variant name as the endpoint it updates",
        )


def _kms_without_local_storage(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    serving = config.serving
    candidates: list[tuple[str, str | None]] = [
        ("training.instance_type", config.training.instance_type),
        ("batch.instance_type", config.batch.instance_type),
        ("serving.monitoring.instance_type", serving.monitoring.instance_type if serving.monitoring else None),
        # The Clarify jobs' volumes are encrypted with the key too (the shadow endpoint is Clarify's own).
        ("training.bias.instance_type", config.training.bias.instance_type if config.training.bias.enabled else None),
    ]
    if serving.serverless is None:
        candidates.append(("serving.instance_type", serving.instance_type))
        candidates += [
            (f"serving.variants.{index}.instance_type", variant.instance_type)
            for index, variant in enumerate(serving.variants)
        ]
    for key, instance_type in candidates:
        if instance_type is not None and has_local_instance_storage(instance_type):
            yield (
                key,
                f"'{instance_type}' has local NVMe instance storage, and every volume here is encrypted with the "
                "environment's KMS key, which AWS refuses for such types: choose a type without instance storage",
            )


def _eventbridge_day_fields(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    for key, schedule in (
        ("extraction.schedule", config.extraction.schedule),
        ("batch.schedule", config.batch.schedule),
    ):
        match = _SIX_FIELD_CRON.match(schedule or "")
        if not match:
            continue
        day_of_month, day_of_week = match["fields"].split()[2], match["fields"].split()[4]
        if (day_of_month == "?") == (day_of_week == "?"):
            yield (
                key,
                f"'{schedule}': exactly one of day-of-month ('{day_of_month}') and day-of-week ('{day_of_week}') "
                "must be '?'",
            )


def _tuning_job_name_fits(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    # "<esteira-env>-<YYMMDDHHMM>-<4 hex>" (lambdas/training/prepare names it) must fit 32 characters.
    if config.training.tuning is not None and len(f"esteira-{config.name}") > 16:
        yield ("training.tuning", f"needs an environment name of at most 8 characters, not '{config.name}'")


def _tuning_strategy_supported(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    tuning = config.training.tuning
    if tuning is None:
        return
    if tuning.strategy == "Hyperband":
        yield (
            "training.tuning.strategy",
            "Hyperband needs TrainingJobEarlyStoppingType OFF and a MaxResource in epochs; our jobs stop early "
            "(Auto) and count boosting rounds: use Bayesian or Random",
        )
    if tuning.strategy == "Grid":
        numeric = sorted(name for name, spec in tuning.ranges.items() if spec.type != "categorical")
        if numeric:
            yield (
                "training.tuning.ranges",
                f"the Grid strategy takes only categorical ranges; {', '.join(numeric)} are numeric",
            )


def _model_quality_enabled(config: EnvironmentConfig) -> bool:
    monitoring = config.serving.monitoring
    return monitoring is not None and monitoring.model_quality.enabled


def _model_quality_binary(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    if not _model_quality_enabled(config):
        return
    objective = str(config.training.hyperparameters.get("objective", DEFAULT_OBJECTIVE))
    if task_of_objective(objective) != BINARY:
        yield (
            f"{MODEL_QUALITY_KEY}.enabled",
            f"training.hyperparameters.objective '{objective}' is not a binary classifier: the model-quality "
            "monitor here is BinaryClassification (a probability and a threshold); disable it for this objective",
        )


def _model_quality_threshold(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    if not _model_quality_enabled(config):
        return
    try:
        served_threshold(config.training.hyperparameters)
    except EndpointQualityError as err:
        key, _, problem = str(err).partition(": ")
        yield key, f"{problem}; it is the ProbabilityThresholdAttribute of {MODEL_QUALITY_KEY}"


def _capture_outlives_ground_truth_delay(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    monitoring = config.serving.monitoring
    if monitoring is None or not monitoring.model_quality.enabled:
        return
    oldest_read = monitoring.model_quality.ground_truth_delay_hours + monitoring.period_hours
    kept = config.storage.data_capture_expiration_days * 24
    if kept <= oldest_read:
        yield (
            f"{MODEL_QUALITY_KEY}.ground_truth_delay_hours",
            f"each run reads capture up to {oldest_read} h old (StartTimeOffset), but storage."
            f"data_capture_expiration_days keeps it {kept} h: keep the capture longer or shorten the delay",
        )


def _quality_alarm_range(config: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    quality = config.training.quality
    if not quality.enabled:
        return
    seconds = quality.period_hours * 3600 * quality.evaluation_periods
    if seconds > MAX_ALARM_EVALUATION_SECONDS:
        yield (
            "training.quality.evaluation_periods",
            f"{quality.evaluation_periods} periods of {quality.period_hours} h (training.quality.period_hours) "
            f"span {seconds // 3600} h; an alarm evaluates at most 7 days (168 h)",
        )
    if quality.datapoints_to_alarm > quality.evaluation_periods:
        yield (
            "training.quality.datapoints_to_alarm",
            f"{quality.datapoints_to_alarm} breaching points out of {quality.evaluation_periods} evaluation periods "
            "(training.quality.evaluation_periods): it must be at most that many",
        )


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "serverless-single-variant",
        ("serving.serverless", "serving.variants"),
        "A serverless endpoint serves one production variant (no multiple variants).",
        SERVERLESS_DOCS,
        _serverless_single_variant,
    ),
    Rule(
        "serverless-no-instances",
        ("serving.variants[].instance_type", "serving.variants[].initial_instance_count"),
        "A serverless variant has a memory size and concurrency, no instance type or count.",
        SERVERLESS_DOCS,
        _serverless_no_instances,
    ),
    Rule(
        "serverless-scaling-dimension",
        ("serving.autoscaling", "serving.serverless"),
        f"Instance variants scale {INSTANCE_VARIANT_DIMENSION}; serverless ones only "
        f"{SERVERLESS_VARIANT_DIMENSION} (with provisioned concurrency).",
        SERVERLESS_SCALING_DOCS,
        _serverless_scaling_dimension,
    ),
    Rule(
        "guardrail-step-sizes",
        ("serving.rollout.canary_percent", "serving.rollout.linear_step_percent"),
        "CanarySize <= 50% of the variant's capacity; LinearStepSize 10-50%.",
        TRAFFIC_ROUTING_DOCS,
        _canary_and_linear_sizes,
    ),
    Rule(
        "guardrail-timeout-covers-waits",
        ("serving.rollout.maximum_execution_timeout_minutes",),
        "MaximumExecutionTimeoutInSeconds is larger than the total of WaitIntervalInSeconds and "
        "TerminationWaitInSeconds.",
        BLUE_GREEN_DOCS,
        _rollout_fits_its_timeout,
    ),
    Rule(
        "guardrail-stable-variant-name",
        ("serving.variants[0].name",),
        "A blue/green update keeps the variant names of the endpoint config it replaces.",
        GUARDRAILS_EXCLUSIONS_DOCS,
        _stable_champion_name,
    ),
    Rule(
        "kms-no-local-storage",
        (
            "serving.instance_type",
            "serving.variants[].instance_type",
            "training.instance_type",
            "batch.instance_type",
            "serving.monitoring.instance_type",
            "training.bias.instance_type",
        ),
        "No KmsKeyId / VolumeKmsKeyId for instance types with local (NVMe) instance storage.",
        ENDPOINT_KMS_DOCS,
        _kms_without_local_storage,
    ),
    Rule(
        "eventbridge-cron-day-fields",
        ("extraction.schedule", "batch.schedule"),
        "A cron expression gives day-of-month or day-of-week; the other is '?'.",
        EVENTBRIDGE_CRON_DOCS,
        _eventbridge_day_fields,
    ),
    Rule(
        "tuning-job-name-length",
        ("name", "training.tuning"),
        "A hyperparameter tuning job's name is at most 32 characters.",
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateHyperParameterTuningJob.html",
        _tuning_job_name_fits,
    ),
    Rule(
        "tuning-strategy-fits-the-job",
        ("training.tuning.strategy", "training.tuning.ranges"),
        "Hyperband needs early stopping OFF and an epoch-based MaxResource; Grid takes categorical ranges only.",
        TUNING_CONFIG_DOCS,
        _tuning_strategy_supported,
    ),
    Rule(
        "model-quality-problem-type",
        (f"{MODEL_QUALITY_KEY}.enabled", "training.hyperparameters.objective"),
        "ProblemType is BinaryClassification, MulticlassClassification or Regression; ProbabilityAttribute and "
        "ProbabilityThresholdAttribute apply to classification: ours is the binary objective's monitor.",
        MODEL_QUALITY_JOB_DOCS,
        _model_quality_binary,
    ),
    Rule(
        "model-quality-probability-threshold",
        ("training.hyperparameters.threshold",),
        "ProbabilityThresholdAttribute is the class probability from which a result is positive: the served "
        "threshold, a probability.",
        MODEL_QUALITY_INPUT_DOCS,
        _model_quality_threshold,
    ),
    Rule(
        "model-quality-capture-outlives-offset",
        (f"{MODEL_QUALITY_KEY}.ground_truth_delay_hours", "storage.data_capture_expiration_days"),
        "A model-quality run reads capture from StartTimeOffset back (the ground truth's delay plus a period): "
        "the capture must still be there.",
        MODEL_QUALITY_SCHEDULE_DOCS,
        _capture_outlives_ground_truth_delay,
    ),
    Rule(
        "alarm-evaluation-range",
        (
            "training.quality.period_hours",
            "training.quality.evaluation_periods",
            "training.quality.datapoints_to_alarm",
        ),
        "Period x EvaluationPeriods is at most 7 days; DatapointsToAlarm is at most EvaluationPeriods.",
        PUT_METRIC_ALARM_DOCS,
        _quality_alarm_range,
    ),
)


def violations(config: EnvironmentConfig) -> list[str]:
    """Every broken rule, one line each: ``<key>: <what is wrong> [<rule id>: <url>]``."""
    return [f"{key}: {problem} [{rule.id}: {rule.url}]" for rule in RULES for key, problem in rule.check(config)]
