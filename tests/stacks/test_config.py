"""GIVEN a config file WHEN it is loaded THEN it is typed, or the error names the file and the key."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.config import CONFIG_DIR, ConfigError, available_envs, load_config
from stacks.config_base import parse_yaml

REPO_ROOT = CONFIG_DIR.parent


def write_env(tmp_path: Path, env: str, mutate: dict[str, object] | None = None, drop: str | None = None) -> Path:
    data = parse_yaml((CONFIG_DIR / "staging.yaml").read_text())
    for dotted, value in (mutate or {}).items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    if drop:
        *parents, leaf = drop.split(".")
        node = data
        for part in parents:
            node = node[part]
        del node[leaf]
    (tmp_path / f"{env}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_every_shipped_environment_loads() -> None:
    assert available_envs() == ["dev", "prod", "staging"]
    for env in available_envs():
        config = load_config(env)
        assert config.name == env
        assert config.source_database.jdbc_url.startswith("jdbc:postgresql://")


def test_dev_is_the_default_and_prod_retains() -> None:
    assert load_config(None).name == "dev"
    assert load_config("dev").retain is False
    assert load_config("prod").retain is True


def test_unknown_env_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown env 'nope': valid environments are dev, prod, staging"):
        load_config("nope")


@pytest.mark.parametrize(
    ("mutate", "drop", "expected_key"),
    [
        (None, "source_database.host", "source_database.host"),
        (None, "account", "account"),
        ({"source_database.port": "five"}, None, "source_database.port"),
        ({"account": 123456789012}, None, "account"),
        ({"removal": "sometimes"}, None, "removal"),
        ({"extraction.schedule": "daily at two"}, None, "extraction.schedule"),
        ({"extraction.number_of_workers": 1}, None, "extraction.number_of_workers"),
        ({"extraction.spec": "glue_jobs/specs/missing.json"}, None, "extraction.spec"),
        ({"network.subnets": []}, None, "network"),
        ({"network.security_group_ids": ["default"]}, None, "network.security_group_ids.0"),
        ({"source_database.password": "hunter2"}, None, "source_database"),
        ({"log_retention_days": 10}, None, "log_retention_days"),
        ({"unexpected_key": True}, None, "unexpected_key"),
        ({"training.dataset.holdout_fraction": 0.3}, None, "training.dataset"),
        ({"training.dataset.train_fraction": 0}, None, "training.dataset.train_fraction"),
        ({"storage.batch_input_expiration_days": 0}, None, "storage.batch_input_expiration_days"),
    ],
)
def test_bad_key_is_named_with_the_file(
    tmp_path: Path, mutate: dict[str, object] | None, drop: str | None, expected_key: str
) -> None:
    # GIVEN a staging file with one bad or missing key
    config_dir = write_env(tmp_path, "staging", mutate, drop)
    # WHEN it is loaded THEN the error names the file and the key
    with pytest.raises(ConfigError) as error:
        load_config("staging", config_dir)
    message = str(error.value)
    assert str(config_dir / "staging.yaml") in message
    assert f"  - {expected_key}:" in message


def test_password_in_config_is_refused_with_a_pointer_to_the_secret(tmp_path: Path) -> None:
    config_dir = write_env(tmp_path, "staging", {"source_database.password": "hunter2"})
    with pytest.raises(ConfigError, match="credentials never go in config"):
        load_config("staging", config_dir)


def test_create_network_refuses_existing_ids(tmp_path: Path) -> None:
    config_dir = write_env(tmp_path, "staging", {"network.mode": "create"})
    with pytest.raises(ConfigError, match="mode 'create' builds its own VPC"):
        load_config("staging", config_dir)


def test_file_that_is_not_a_mapping_or_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "dev.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config("dev", tmp_path)
    (tmp_path / "dev.yaml").write_text("account: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("dev", tmp_path)


def test_file_name_and_name_key_must_agree(tmp_path: Path) -> None:
    config_dir = write_env(tmp_path, "staging", {"name": "prod"})
    with pytest.raises(ConfigError, match="key 'name' is 'prod'"):
        load_config("staging", config_dir)


def run_app(context: dict[str, str], overflow: Path | None = None) -> subprocess.CompletedProcess[str]:
    """app.py run as the cdk CLI runs it: the context in CDK_CONTEXT_JSON, or in the file the CLI writes when it is too
    long for the environment; with Python's import log, to see which modules it loaded."""
    environment = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": "/nonexistent"}
    if overflow is not None:
        environment["CONTEXT_OVERFLOW_LOCATION_ENV"] = str(overflow)
    return subprocess.run(
        [sys.executable, "-X", "importtime", "app.py"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_app_exits_before_building_anything_on_an_unknown_env() -> None:
    # GIVEN the CDK app run as the cdk CLI runs it, with env=nope in the context  WHEN it starts
    result = run_app({"env": "nope"})
    # THEN it exits non-zero naming the valid environments, with no traceback, before loading the CDK at all
    assert result.returncode == 2
    assert "valid environments are dev, prod, staging" in result.stderr
    assert "Traceback" not in result.stderr
    assert "| aws_cdk" not in result.stderr and "| jsii" not in result.stderr


def test_app_reads_the_context_the_cli_writes_to_a_file_when_it_is_long(tmp_path: Path) -> None:
    # GIVEN the context in the CLI's overflow file (its own, with env=nope, overriding the environment variable's)
    overflow = tmp_path / "context.json"
    overflow.write_text(json.dumps({"env": "nope"}))
    # WHEN the app starts  THEN it read the file: the unknown env is named
    result = run_app({"env": "dev"}, overflow)
    assert result.returncode == 2
    assert "unknown env 'nope'" in result.stderr


PACKAGE = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/esteira-staging-model/3"


@pytest.mark.parametrize(
    ("serving", "expected"),
    [
        (
            {"variants": [{"name": "champion", "weight": 0, "model_package_arn": PACKAGE}]},
            "weights must sum to a positive total",
        ),
        ({"autoscaling": {"min_capacity": 4, "max_capacity": 2}}, "min_capacity (4) > max_capacity (2)"),
        ({"rollout": {"mode": "canary", "canary_percent": 0}}, "serving.rollout.canary_percent"),
        ({"rollout": {"mode": "canary", "canary_percent": 101}}, "serving.rollout.canary_percent"),
        ({"instance_type": "m5.large"}, "serving.instance_type"),
        (
            {"variants": [{"name": "a", "weight": 1, "model_package_arn": PACKAGE, "instance_type": "c5.xlarge"}]},
            "serving.variants.0.instance_type",
        ),
        (
            {"variants": [{"name": "a", "weight": 1}]},
            "give either model_package_arn, or model_data_url together with image",
        ),
        (
            {
                "variants": [
                    {"name": "a", "weight": 1, "model_package_arn": PACKAGE},
                    {"name": "a", "weight": 1, "model_package_arn": PACKAGE},
                ]
            },
            "variant names must be unique",
        ),
        ({"serverless": {"memory_size_mb": 2048}}, "serverless endpoints only support rollout.mode 'all_at_once'"),
    ],
)
def test_serving_config_rejects_inconsistent_settings(
    tmp_path: Path, serving: dict[str, object], expected: str
) -> None:
    config_dir = write_env(tmp_path, "staging", {"serving": serving})
    with pytest.raises(ConfigError) as error:
        load_config("staging", config_dir)
    assert expected in str(error.value)


def test_model_package_from_the_command_line_becomes_the_champion() -> None:
    config = load_config("staging").with_model_package(PACKAGE)
    (champion,) = config.serving.variants
    assert (champion.name, champion.weight, champion.model_package_arn) == ("champion", 1.0, PACKAGE)
    with pytest.raises(ConfigError, match="model_package_arn"):
        load_config("staging").with_model_package("not-an-arn")


def test_tuning_needs_a_short_environment_name(tmp_path: Path) -> None:
    # GIVEN an environment whose name makes tuning job names longer than SageMaker's 32 characters
    source = (CONFIG_DIR / "staging.yaml").read_text()
    (tmp_path / "preprod01.yaml").write_text(source)
    # WHEN loaded THEN the error says why
    with pytest.raises(ConfigError, match=r"training\.tuning: needs an environment name of at most 8 characters"):
        load_config("preprod01", tmp_path)


def test_training_may_not_name_a_candidate_image_which_the_ecr_lifecycle_expires(tmp_path: Path) -> None:
    # GIVEN a training image tag with the candidate prefix  WHEN loaded  THEN refused, naming the key and the rule
    config_dir = write_env(tmp_path, "staging", {"training.image_tag": "candidate-0123abcd"})
    with pytest.raises(ConfigError, match=r"  - training\.image_tag: .*candidate image tag .*ECR lifecycle"):
        load_config("staging", config_dir)


def test_clarify_in_an_existing_network_needs_the_sagemaker_endpoints_groups(tmp_path: Path) -> None:
    # GIVEN prod's config (existing network, bias enabled) without the SageMaker endpoints' groups
    data = parse_yaml((CONFIG_DIR / "prod.yaml").read_text())
    del data["network"]["sagemaker_endpoint_security_group_ids"]
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump(data))
    # WHEN loaded THEN the error names the key Clarify needs
    with pytest.raises(ConfigError, match=r"network\.sagemaker_endpoint_security_group_ids: training\.bias\.enabled"):
        load_config("prod", tmp_path)
    # AND with bias off, nothing in the VPC calls SageMaker, so the key is not required
    data["training"]["bias"] = {"enabled": False}
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump(data))
    assert load_config("prod", tmp_path).network.sagemaker_endpoint_security_group_ids == ()


def test_create_network_refuses_sagemaker_endpoints_groups(tmp_path: Path) -> None:
    # GIVEN dev's created VPC with SageMaker endpoints' groups named (they would belong to no VPC of ours)
    data = parse_yaml((CONFIG_DIR / "dev.yaml").read_text())
    data["network"]["sagemaker_endpoint_security_group_ids"] = ["sg-0123456789abcdef0"]
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    # WHEN loaded THEN refused, naming the key
    with pytest.raises(ConfigError, match="sagemaker_endpoint_security_group_ids"):
        load_config("dev", tmp_path)
