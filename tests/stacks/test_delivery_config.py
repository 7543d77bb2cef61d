"""GIVEN a delivery config WHEN it is loaded THEN it is typed and consistent with the environments, or the error
names the file and the key."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.config import ConfigError, load_config
from stacks.config_base import parse_yaml
from stacks.delivery_config import DELIVERY_DIR, delivery_links, load_delivery_config

REPO_ROOT = DELIVERY_DIR.parents[1]


def write_delivery(tmp_path: Path, mutate: dict[str, object]) -> Path:
    data = parse_yaml((DELIVERY_DIR / "pipeline.yaml").read_text())
    for dotted, value in mutate.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_the_shipped_pipeline_loads_with_staging_as_registry_and_smoke_test() -> None:
    delivery = load_delivery_config()
    assert delivery.stages == ("dev", "staging", "prod")
    assert delivery.manual_approval_before == ("prod",)
    assert delivery.promoted_envs() == ("staging", "prod")
    assert delivery.smoke_test.min_match_rate == 0.8


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        ({"stages": ["dev", "qa", "prod"]}, r"stages \['qa'\] have no config/<env>.yaml"),
        ({"stages": ["dev", "dev", "staging", "prod"]}, "must not repeat"),
        ({"manual_approval_before": ["uat"]}, "manual_approval_before 'uat' is not one of the stages"),
        ({"smoke_test.env": "dev"}, "smoke_test.env 'dev' comes before promotion.registry_env 'staging'"),
        ({"promotion.registry_env": "qa"}, "promotion.registry_env 'qa' is not one of the stages"),
        ({"smoke_test.min_match_rate": 1.5}, "smoke_test.min_match_rate"),
        ({"source.connection_arn": "arn:aws:iam::444444444444:role/x"}, "source.connection_arn"),
        ({"source.repository": "no-slash"}, "source.repository"),
        ({"account": "4444"}, "account"),
        ({"build.compute": "HUGE"}, "build.compute"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_delivery_config_names_the_file_and_the_key(
    tmp_path: Path, mutate: dict[str, object], expected: str
) -> None:
    directory = write_delivery(tmp_path, mutate)
    with pytest.raises(ConfigError) as error:
        load_delivery_config("pipeline", directory)
    message = str(error.value)
    assert str(directory / "pipeline.yaml") in message
    assert re.search(expected, message), message


def test_an_unknown_delivery_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown delivery 'nightly': valid ones are pipeline"):
        load_delivery_config("nightly")


def test_each_environment_learns_its_part_in_delivery() -> None:
    dev, staging, prod = (delivery_links(load_config(env)) for env in ("dev", "staging", "prod"))
    assert dev is not None and staging is not None and prod is not None
    # The registry forwards decisions and shares with prod's account; prod reads the registry's models.
    assert staging.forwards_approvals and staging.share_models_with == (load_config("prod").account,)
    assert staging.hosts_smoke_test and staging.serves_promoted_models and not staging.serves_foreign_models
    assert prod.serves_promoted_models and not dev.serves_promoted_models
    assert prod.serves_foreign_models and not prod.forwards_approvals and not prod.share_models_with
    assert not (dev.forwards_approvals or dev.serves_foreign_models or dev.hosts_smoke_test or dev.share_models_with)


def test_a_bad_delivery_config_fails_cdk_synth_with_the_key(tmp_path: Path) -> None:
    # GIVEN `cdk synth -c delivery=nightly` (no such file)  WHEN app.py runs  THEN exit 2 naming the valid ones
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "CDK_CONTEXT_JSON": '{"delivery": "nightly"}', "CDK_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "unknown delivery 'nightly'" in result.stderr
