"""GIVEN a config AWS would refuse WHEN it is loaded THEN the error names the key and the rule (docs/aws-rules.md)."""

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks import aws_rules
from stacks.aws_rules import RULES, has_local_instance_storage, is_model_monitor_cron
from stacks.config import CONFIG_DIR, ConfigError, available_envs, load_config
from stacks.config_base import parse_yaml
from stacks.construct_rules import check_metric_math_alarm, check_visibility_timeout, minimum_visibility_timeout_seconds
from stacks.constructs.batch_predictions import CONSUMER_TIMEOUT
from stacks.constructs.model_monitor import SCHEDULES
from stacks.constructs.quality_alarm import EXPRESSION_ID, LABELLED_ID, QUALITY_ID
from tests.stacks.conftest import SynthesizedEnv
from tools.checkov_model_package import model_package_arn

REPO_ROOT = CONFIG_DIR.parent
PACKAGE = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/esteira-staging-model/3"
CHALLENGER = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/esteira-staging-model/4"
ANY_PAGE = re.compile(r"https://docs\.aws\.amazon\.com/\S+\]")


def load_mutated(tmp_path: Path, base: str, mutate: dict[str, Any]) -> None:
    """Load `config/<base>.yaml` with dotted keys replaced (a key set to None is dropped); `name` renames the env."""
    data = copy.deepcopy(parse_yaml((CONFIG_DIR / f"{base}.yaml").read_text()))
    mutate = dict(mutate)
    env = mutate.pop("name", base)
    for dotted, value in mutate.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    (tmp_path / f"{env}.yaml").write_text(yaml.safe_dump(data))
    load_config(env, tmp_path)


def champion(**extra: Any) -> dict[str, Any]:
    return {"name": "champion", "weight": 1, "model_package_arn": PACKAGE, **extra}


# (base env, changed keys, the key the error names, the rule id it names)
CROSS_KEY_CASES = [
    pytest.param(
        "dev",
        {"serving.variants": [champion(), {"name": "challenger", "weight": 1, "model_package_arn": CHALLENGER}]},
        "serving.variants",
        "serverless-single-variant",
        id="serverless-single-variant",
    ),
    pytest.param(
        "dev",
        {"serving.variants": [champion(instance_type="ml.m5.large")]},
        "serving.variants.0.instance_type",
        "serverless-no-instances",
        id="serverless-no-instances",
    ),
    pytest.param(
        "dev",
        {"serving.autoscaling": {"min_capacity": 1, "max_capacity": 4}},
        "serving.autoscaling",
        "serverless-scaling-dimension",
        id="serverless-scaling-dimension",
    ),
    pytest.param(
        "staging",
        {"serving.rollout.canary_percent": 60},
        "serving.rollout.canary_percent",
        "guardrail-step-sizes",
        id="guardrail-canary-size",
    ),
    pytest.param(
        "staging",
        {"serving.rollout.mode": "linear", "serving.rollout.linear_step_percent": 5},
        "serving.rollout.linear_step_percent",
        "guardrail-step-sizes",
        id="guardrail-linear-step",
    ),
    pytest.param(
        "staging",
        {
            "serving.rollout.wait_minutes": 30,
            "serving.rollout.termination_wait_minutes": 30,
            "serving.rollout.maximum_execution_timeout_minutes": 60,
        },
        "serving.rollout.maximum_execution_timeout_minutes",
        "guardrail-timeout-covers-waits",
        id="guardrail-timeout-covers-waits",
    ),
    pytest.param(
        "staging",
        {"serving.variants": [{"name": "blue", "weight": 1, "model_package_arn": PACKAGE}]},
        "serving.variants.0.name",
        "guardrail-stable-variant-name",
        id="guardrail-stable-variant-name",
    ),
    pytest.param(
        "staging",
        {"serving.instance_type": "ml.m5d.large"},
        "serving.instance_type",
        "kms-no-local-storage",
        id="kms-endpoint-instance-storage",
    ),
    pytest.param(
        "staging",
        {"training.instance_type": "ml.g4dn.xlarge"},
        "training.instance_type",
        "kms-no-local-storage",
        id="kms-training-instance-storage",
    ),
    pytest.param(
        "prod",
        {"batch.instance_type": "ml.c5d.xlarge"},
        "batch.instance_type",
        "kms-no-local-storage",
        id="kms-transform-instance-storage",
    ),
    pytest.param(
        "prod",
        {"serving.monitoring.instance_type": "ml.r5d.large"},
        "serving.monitoring.instance_type",
        "kms-no-local-storage",
        id="kms-monitoring-instance-storage",
    ),
    pytest.param(
        "prod",
        {"training.bias.instance_type": "ml.m5d.xlarge"},
        "training.bias.instance_type",
        "kms-no-local-storage",
        id="kms-clarify-instance-storage",
    ),
    pytest.param(
        "staging",
        {"extraction.schedule": "cron(0 2 * * * *)"},
        "extraction.schedule",
        "eventbridge-cron-day-fields",
        id="eventbridge-cron-both-days",
    ),
    pytest.param(
        "staging",
        {"batch.schedule": "cron(0 5 ? * ? *)"},
        "batch.schedule",
        "eventbridge-cron-day-fields",
        id="eventbridge-cron-no-day",
    ),
    pytest.param(
        "staging",
        {"name": "staging-long", "training.tuning.strategy": "Bayesian"},
        "training.tuning",
        "tuning-job-name-length",
        id="tuning-job-name-length",
    ),
    pytest.param(
        "staging",
        {"training.tuning.strategy": "Hyperband"},
        "training.tuning.strategy",
        "tuning-strategy-fits-the-job",
        id="tuning-hyperband",
    ),
    pytest.param(
        "staging",
        {"training.tuning.strategy": "Grid"},
        "training.tuning.ranges",
        "tuning-strategy-fits-the-job",
        id="tuning-grid-numeric-ranges",
    ),
    pytest.param(
        "prod",
        {"training.quality.evaluation_periods": 8},
        "training.quality.evaluation_periods",
        "alarm-evaluation-range",
        id="alarm-evaluation-range",
    ),
    pytest.param(
        "staging",
        {"training.quality.evaluation_periods": 2, "training.quality.datapoints_to_alarm": 3},
        "training.quality.datapoints_to_alarm",
        "alarm-evaluation-range",
        id="alarm-datapoints-within-periods",
    ),
]


@pytest.mark.parametrize(("base", "mutate", "key", "rule_id"), CROSS_KEY_CASES)
def test_a_config_aws_would_refuse_fails_naming_the_key_and_the_rule(
    tmp_path: Path, base: str, mutate: dict[str, Any], key: str, rule_id: str
) -> None:
    # GIVEN a shipped config with one rule broken WHEN it is loaded
    with pytest.raises(ConfigError) as error:
        load_mutated(tmp_path, base, mutate)
    # THEN the error names the key, the rule and its documentation page, one line per broken rule
    lines = [line for line in str(error.value).splitlines() if f"[{rule_id}: " in line]
    assert lines, str(error.value)
    assert lines[0].startswith(f"  - {key}: ")
    assert ANY_PAGE.search(lines[0])
    assert "Traceback" not in str(error.value)


# Rules that sit on one key: its type or bounds in stacks/config.py (docs/aws-rules.md lists where).
FIELD_CASES = [
    pytest.param("dev", {"serving.serverless.memory_size_mb": 1500}, "serving.serverless.memory_size_mb", id="sl-mem"),
    pytest.param("dev", {"serving.serverless.max_concurrency": 201}, "serving.serverless.max_concurrency", id="sl-cc"),
    pytest.param("dev", {"serving.data_capture_percent": 20}, "serving", id="serverless-no-capture"),
    pytest.param("staging", {"serving.rollout.wait_minutes": 61}, "serving.rollout.wait_minutes", id="wait-3600s"),
    pytest.param(
        "staging",
        {"serving.rollout.termination_wait_minutes": 61},
        "serving.rollout.termination_wait_minutes",
        id="termination-3600s",
    ),
    pytest.param(
        "staging",
        {"serving.rollout.maximum_execution_timeout_minutes": 481},
        "serving.rollout.maximum_execution_timeout_minutes",
        id="execution-28800s",
    ),
    pytest.param("staging", {"batch.consumer_batch_size": 11}, "batch.consumer_batch_size", id="fifo-batch-size"),
    pytest.param(
        "staging", {"batch.consumer_max_concurrency": 1}, "batch.consumer_max_concurrency", id="max-concurrency"
    ),
    pytest.param("staging", {"training.max_wait_minutes": 60}, "training", id="spot-max-wait"),
    pytest.param(
        "staging",
        {"storage.curated_infrequent_access_days": 29},
        "storage.curated_infrequent_access_days",
        id="s3-standard-ia-30-days",
    ),
    pytest.param("staging", {"batch.max_concurrent_transforms": 20}, "batch", id="transform-payload-buffer"),
    pytest.param("staging", {"extraction.number_of_workers": 300}, "extraction.number_of_workers", id="glue-workers"),
    pytest.param("staging", {"extraction.timeout_minutes": 2881}, "extraction.timeout_minutes", id="glue-timeout"),
    pytest.param("staging", {"log_retention_days": 45}, "log_retention_days", id="log-retention"),
    pytest.param(
        "staging",
        {"source_database.rotation.schedule": "rate(2 hours)"},
        "source_database.rotation.schedule",
        id="secret-rotation",
    ),
    pytest.param("staging", {"training.tuning.max_parallel_jobs": 10}, "training.tuning", id="tuning-parallel"),
    pytest.param("prod", {"training.quality.period_hours": 169}, "training.quality.period_hours", id="alarm-period"),
    pytest.param(
        "prod",
        {"training.quality.min_labelled_predictions": 0},
        "training.quality.min_labelled_predictions",
        id="alarm-min-labels",
    ),
    pytest.param("prod", {"training.bias.instance_type": "ml.g5.xlarge"}, "training.bias", id="clarify-no-gpu"),
    pytest.param("prod", {"training.bias.instance_count": 101}, "training.bias.instance_count", id="clarify-instances"),
    pytest.param(
        "prod", {"training.bias.max_runtime_minutes": 10081}, "training.bias.max_runtime_minutes", id="clarify-7-days"
    ),
    pytest.param("prod", {"training.bias.shap.num_samples": 0}, "training.bias.shap.num_samples", id="shap-samples"),
    pytest.param(
        "prod", {"training.bias.shap.agg_method": "mean"}, "training.bias.shap.agg_method", id="shap-agg-method"
    ),
    pytest.param(
        "prod",
        {"training.bias.label_values_or_threshold": [0, 1]},
        "training.bias",
        id="clarify-binary-label-value",
    ),
]


@pytest.mark.parametrize(("base", "mutate", "key"), FIELD_CASES)
def test_a_single_key_aws_would_refuse_fails_naming_it(
    tmp_path: Path, base: str, mutate: dict[str, Any], key: str
) -> None:
    # GIVEN a shipped config with one key out of AWS's bounds WHEN it is loaded THEN the error names the key
    with pytest.raises(ConfigError) as error:
        load_mutated(tmp_path, base, mutate)
    assert f"  - {key}: " in str(error.value)


@pytest.mark.parametrize(
    ("instance_type", "local"),
    [
        ("ml.m5.large", False),
        ("ml.m5.2xlarge", False),
        ("ml.c5.xlarge", False),
        ("ml.g4dn.xlarge", True),
        ("ml.m5d.large", True),
        ("ml.p4d.24xlarge", True),
        ("ml.g5.2xlarge", True),
        ("ml.m6id.large", True),
    ],
)
def test_instance_types_with_nvme_storage_are_recognized(instance_type: str, local: bool) -> None:
    assert has_local_instance_storage(instance_type) is local


@pytest.mark.parametrize(
    ("expression", "accepted"),
    [
        ("cron(0 * ? * * *)", True),
        ("cron(0 12 ? * * *)", True),
        ("cron(0 17/12 ? * * *)", True),
        ("cron(0 0/2 ? * * *)", True),
        ("cron(30 * ? * * *)", False),
        ("cron(0 2 * * ? *)", False),
        ("cron(0 24 ? * * *)", False),
        ("rate(1 hour)", False),
    ],
)
def test_model_monitor_accepts_only_its_documented_cron_forms(expression: str, accepted: bool) -> None:
    assert is_model_monitor_cron(expression) is accepted


def test_every_monitoring_schedule_we_offer_is_a_form_model_monitor_accepts() -> None:
    assert SCHEDULES and all(is_model_monitor_cron(expression) for expression in SCHEDULES.values())


def test_a_queue_under_six_times_its_consumers_timeout_fails_at_synth() -> None:
    with pytest.raises(ValueError, match=r"the queue: visibility timeout 90 s .*sqs-visibility-six-times-timeout"):
        check_visibility_timeout("the queue", 90, 60)
    check_visibility_timeout("the queue", minimum_visibility_timeout_seconds(60), 60)


def test_the_predictions_queue_hides_a_message_six_times_as_long_as_the_consumer_runs(
    synth: Callable[[str], SynthesizedEnv],
) -> None:
    batch = synth("staging").templates["Batch"]
    queues = [
        resource["Properties"]
        for resource in batch.find_resources("AWS::SQS::Queue").values()
        if resource["Properties"].get("FifoQueue") and "VisibilityTimeout" in resource["Properties"]
    ]
    assert [queue["VisibilityTimeout"] for queue in queues] == [6 * CONSUMER_TIMEOUT.to_seconds()]


def test_a_metric_math_alarm_aws_would_refuse_fails_at_synth() -> None:
    # GIVEN ids and counts PutMetricAlarm refuses WHEN checked THEN each is named with the rule and its page
    with pytest.raises(ValueError, match=r"metric id 'Quality' must be .*starting lowercase.*alarm-metric-math: "):
        check_metric_math_alarm("the alarm", ["Quality", "labelled"], ["expr_1"])
    with pytest.raises(ValueError, match=r"expression id '1st'"):
        check_metric_math_alarm("the alarm", ["quality"], ["1st"])
    with pytest.raises(ValueError, match=r"11 metrics and 1 expressions: at most 10 of each"):
        check_metric_math_alarm("the alarm", [f"m{i}" for i in range(11)], ["expr_1"])
    with pytest.raises(ValueError, match="unique"):
        check_metric_math_alarm("the alarm", ["quality", "quality"], ["expr_1"])
    # AND the model-quality alarm's own ids pass
    check_metric_math_alarm("the alarm", [QUALITY_ID, LABELLED_ID], [EXPRESSION_ID])


def test_every_rule_is_documented_with_its_page() -> None:
    # GIVEN docs/aws-rules.md WHEN read THEN every rule checked at synth has its row, with the rule's own page
    document = (REPO_ROOT / "docs" / "aws-rules.md").read_text()
    for rule in RULES:
        assert f"`{rule.id}`" in document, rule.id
        assert rule.url in document, rule.url


@pytest.mark.parametrize("env", available_envs())
def test_every_shipped_env_keeps_every_rule_with_and_without_a_model(env: str) -> None:
    # GIVEN each shipped env, as `make synth` reads it and as `make checkov` serves its model package
    base = load_config(env)
    for config in (base, base.with_model_package(model_package_arn(env))):
        # WHEN every cross-key rule runs THEN none is broken
        assert aws_rules.violations(config) == []
        # AND the constructs' own rules hold for what this env builds
        if config.serving.monitoring is not None:
            assert is_model_monitor_cron(SCHEDULES[config.serving.monitoring.schedule])
