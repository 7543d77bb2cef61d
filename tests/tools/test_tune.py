"""make tune: the plan built from config is what the state machine's Tune state runs, minus the SDK."""

import pytest

from stacks import names
from stacks.config import ConfigError, load_config
from tools.tune import main, plan

ROLE = "arn:aws:iam::222222222222:role/training"


def test_staging_plan_carries_the_config_ranges_limits_and_metric_definitions() -> None:
    # GIVEN staging, which tunes
    config = load_config("staging")
    # WHEN the plan is built
    tuning_plan = plan(config, role_arn=ROLE, train_uri="s3://c/extractions/employees/", output_uri="s3://a/models")
    # THEN it uses the same ranges, objective, limits, image and metric regexes as the stack
    assert config.training.tuning is not None
    assert set(tuning_plan.ranges) == set(config.training.tuning.ranges)
    assert tuning_plan.ranges["max_depth"].kind == "integer"
    assert (tuning_plan.max_jobs, tuning_plan.max_parallel_jobs) == (9, 3)
    assert tuning_plan.objective_metric == "validation:auc"
    assert tuning_plan.metric_definitions == [dict(d) for d in names.TRAINING_METRIC_DEFINITIONS]
    assert tuning_plan.image.endswith(f"/esteira-staging/model:{config.training.image_tag}")
    assert "eta" not in tuning_plan.static_hyperparameters
    assert tuning_plan.static_hyperparameters["target"] == "desligado_em_12_meses"
    assert tuning_plan.max_wait_seconds == config.training.max_wait_minutes * 60


def test_an_environment_without_tuning_is_refused_with_the_key() -> None:
    with pytest.raises(ConfigError, match=r"training\.tuning is not set"):
        plan(load_config("prod"), role_arn=ROLE, train_uri="s3://c/x/", output_uri="s3://a/models/")


def test_without_launch_it_prints_the_plan_and_calls_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--env", "staging", "--role-arn", ROLE, "--train-uri", "s3://c/x/", "--output-uri", "s3://a/m/"])
    assert code == 0
    assert '"objective_metric": "validation:auc"' in capsys.readouterr().out
    assert main(["--env", "dev", "--role-arn", ROLE, "--train-uri", "s3://c/x/", "--output-uri", "s3://a/m/"]) == 2
