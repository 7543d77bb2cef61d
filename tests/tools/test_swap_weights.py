"""make swap-weights: the weights go to the served state (which deploys read) and to the live endpoint, against
moto over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from esteira_contracts.served import variant_parameter
from stacks.config import EnvironmentConfig, load_config
from tests.servers import module_server
from tools.swap_weights import SwapError, main, swap

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with module_server("pipeline.moto_server") as url:
        yield url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(region_name=REGION)
    return {service: session.client(service) for service in ("ssm", "sagemaker")}


def ab_config() -> EnvironmentConfig:
    """prod with champion and challenger, under a fresh name (moto's state is shared by the module's tests)."""
    base = load_config("prod")
    data = base.model_dump()
    data["name"] = f"p{uuid.uuid4().hex[:8]}"
    arn = "arn:aws:sagemaker:eu-west-1:333333333333:model-package/esteira-prod-model/7"
    data["serving"]["variants"] = [
        {"name": "champion", "weight": 95, "model_package_arn": arn},
        {"name": "challenger", "weight": 5, "model_package_arn": arn},
    ]
    return EnvironmentConfig.model_validate(data)


def seed_state(ssm: Any, config: EnvironmentConfig, **weights: str) -> None:
    """The state as the Registry stack's recorder leaves it after a deploy."""
    for name, weight in weights.items():
        ssm.put_parameter(Name=variant_parameter(config.name, name, "weight"), Value=weight, Type="String")


def endpoint_weights(sagemaker: Any, endpoint: str) -> dict[str, float]:
    variants = sagemaker.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return {variant["VariantName"]: variant["CurrentWeight"] for variant in variants}


def test_a_swap_lands_in_the_served_state_and_on_the_live_endpoint(aws: dict[str, Any]) -> None:
    # GIVEN an environment serving champion 95 / challenger 5 on a live endpoint
    config = ab_config()
    seed_state(aws["ssm"], config, champion="95", challenger="5")
    endpoint = config.resource_name("endpoint")
    role = "arn:aws:iam::123456789012:role/model"
    for name in ("champion", "challenger"):
        aws["sagemaker"].create_model(
            ModelName=f"{config.name}-{name}", ExecutionRoleArn=role, PrimaryContainer={"Image": "img"}
        )
    aws["sagemaker"].create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=[
            {
                "VariantName": name,
                "ModelName": f"{config.name}-{name}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for name, weight in (("champion", 95.0), ("challenger", 5.0))
        ],
    )
    aws["sagemaker"].create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    # WHEN the weights are swapped to 50/50
    message = swap(
        config, ["champion=50", "challenger=50"], ssm=aws["ssm"], sagemaker=aws["sagemaker"], state_only=False
    )
    # THEN the served state, which the next deploy reads, holds them, and the endpoint serves them now
    for name in ("champion", "challenger"):
        parameter = variant_parameter(config.name, name, "weight")
        assert aws["ssm"].get_parameter(Name=parameter)["Parameter"]["Value"] == "50"
    assert endpoint_weights(aws["sagemaker"], endpoint) == {"champion": 50.0, "challenger": 50.0}
    assert "champion 95 -> 50, challenger 5 -> 50" in message


def test_a_partial_swap_keeps_the_other_weights_and_no_endpoint_is_fine(aws: dict[str, Any]) -> None:
    config = ab_config()
    seed_state(aws["ssm"], config, champion="95", challenger="5")
    message = swap(config, ["challenger=0"], ssm=aws["ssm"], sagemaker=aws["sagemaker"], state_only=False)
    assert "no endpoint" in message and "challenger 5 -> 0" in message
    parameter = variant_parameter(config.name, "champion", "weight")
    assert aws["ssm"].get_parameter(Name=parameter)["Parameter"]["Value"] == "95"


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["champion"], "is not <variant>=<weight>"),
        (["canary=5"], "'canary' is not a variant"),
        (["champion=-1"], "must be a finite number >= 0"),
        (["champion=abc"], "is not a number"),
        (["champion=1", "champion=2"], "given twice"),
        (["champion=0", "challenger=0"], "sum to 0"),
        ([], "at least one"),
    ],
)
def test_bad_weights_are_refused_naming_the_problem_and_nothing_is_written(
    aws: dict[str, Any], pairs: list[str], message: str
) -> None:
    config = ab_config()
    seed_state(aws["ssm"], config, champion="95", challenger="5")
    with pytest.raises(SwapError, match=message):
        swap(config, pairs, ssm=aws["ssm"], sagemaker=aws["sagemaker"], state_only=True)
    parameter = variant_parameter(config.name, "champion", "weight")
    assert aws["ssm"].get_parameter(Name=parameter)["Parameter"]["Value"] == "95"


def test_the_command_line_refuses_an_env_never_deployed(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # dev has no served state in this (fresh) moto account: a clear error, exit 2, no traceback
    assert main(["--env", "dev", "champion=1"]) == 2
    assert "has no served state" in capsys.readouterr().err
    assert main(["--env", "nowhere", "champion=1"]) == 2
    assert "unknown env 'nowhere'" in capsys.readouterr().err
