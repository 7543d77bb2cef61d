"""The promoter's contract: what the promotion construct renders is what the handler parses back."""

from __future__ import annotations

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.delivery import (
    DEFAULT_PIPELINE_VARIABLE,
    PROMOTED_PACKAGE_PARAMETER,
    PROMOTION_HISTORY_PARAMETER,
    PromoterSettings,
)


def promoter(**overrides: object) -> PromoterSettings:
    values: dict[str, object] = {
        "pipeline_name": "esteira-delivery",
        "model_package_groups": ("esteira-dev-model", "esteira-prod-model"),
        "registry_account": "222222222222",
        "promoted_parameter": PROMOTED_PACKAGE_PARAMETER,
        "history_parameter": PROMOTION_HISTORY_PARAMETER,
    }
    return PromoterSettings(**(values | overrides))  # type: ignore[arg-type]


def test_round_trip_and_default_variable() -> None:
    # GIVEN a promoter contract WHEN rendered and parsed back THEN it is the same, with the default variable
    settings = promoter()
    env = settings.to_env()
    assert env["MODEL_PACKAGE_GROUPS"] == "esteira-dev-model,esteira-prod-model"
    assert env["PIPELINE_VARIABLE"] == DEFAULT_PIPELINE_VARIABLE
    assert PromoterSettings.from_env(env) == settings
    assert set(PromoterSettings.required_names()) == set(PromoterSettings.names()) - {"PIPELINE_VARIABLE"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PIPELINE_NAME", "a pipeline", "PIPELINE_NAME='a pipeline' is not a CodePipeline name"),
        ("PIPELINE_VARIABLE", "a.b", "PIPELINE_VARIABLE='a.b' is not a pipeline variable name"),
        ("MODEL_PACKAGE_GROUPS", "ok,bad_1,bad_2", "MODEL_PACKAGE_GROUPS='bad_1' .*; MODEL_PACKAGE_GROUPS='bad_2'"),
        ("MODEL_PACKAGE_GROUPS", " , ", "MODEL_PACKAGE_GROUPS is required"),
        ("REGISTRY_ACCOUNT", "12345", "REGISTRY_ACCOUNT='12345' is not a 12-digit account id"),
        ("HISTORY_PARAMETER", "/aws/x", "HISTORY_PARAMETER='/aws/x' is not an SSM parameter name"),
        ("HISTORY_PARAMETER", PROMOTED_PACKAGE_PARAMETER, "PROMOTED_PARAMETER and HISTORY_PARAMETER must name two"),
    ],
)
def test_errors_name_the_variable(variable: str, value: str, message: str) -> None:
    env = promoter().to_env() | {variable: value}
    with pytest.raises(SettingsError, match=message) as caught:
        PromoterSettings.from_env(env)
    assert str(caught.value).startswith("promoter settings: ")


def test_rendering_refuses_one_parameter_for_both() -> None:
    with pytest.raises(SettingsError, match="PROMOTED_PARAMETER and HISTORY_PARAMETER"):
        promoter(history_parameter=PROMOTED_PACKAGE_PARAMETER).to_env()


# --- parsed from the environment: every rule, named --------------------------------------------------------------


SETTINGS_ENV = {
    "PIPELINE_NAME": "esteira-delivery",
    "MODEL_PACKAGE_GROUPS": " a-1 ,b2,, ",
    "REGISTRY_ACCOUNT": "222222222222",
    "PROMOTED_PARAMETER": "/esteira/delivery/promoted-model-package",
    "HISTORY_PARAMETER": "/esteira/delivery/promotion-history",
}


def test_settings_defaults_and_group_list() -> None:
    settings = PromoterSettings.from_env(SETTINGS_ENV)
    assert settings == PromoterSettings(
        pipeline_name="esteira-delivery",
        pipeline_variable="ModelPackageArn",
        model_package_groups=("a-1", "b2"),
        registry_account="222222222222",
        promoted_parameter="/esteira/delivery/promoted-model-package",
        history_parameter="/esteira/delivery/promotion-history",
    )
    assert set(PromoterSettings.names()) == {"PIPELINE_VARIABLE", *SETTINGS_ENV}


def test_settings_name_every_missing_variable() -> None:
    with pytest.raises(SettingsError) as info:
        PromoterSettings.from_env({})
    message = str(info.value)
    assert message.startswith("promoter settings: ")
    for name in SETTINGS_ENV:
        assert f"{name} is required" in message
    assert "PIPELINE_VARIABLE" not in message


def test_settings_refuse_ill_formed_values() -> None:
    env = {
        "PIPELINE_NAME": "esteira delivery",
        "PIPELINE_VARIABLE": "Model Package",
        "MODEL_PACKAGE_GROUPS": "ok-group,bad_group",
        "REGISTRY_ACCOUNT": "2222",
        "PROMOTED_PARAMETER": "esteira/delivery/promoted",
        "HISTORY_PARAMETER": "/esteira/delivery history",
    }
    with pytest.raises(SettingsError) as info:
        PromoterSettings.from_env(env)
    message = str(info.value)
    assert "PIPELINE_NAME='esteira delivery' is not a CodePipeline name" in message
    assert "PIPELINE_VARIABLE='Model Package' is not a pipeline variable name" in message
    assert "MODEL_PACKAGE_GROUPS='bad_group' is not a model package group" in message
    assert "ok-group" not in message
    assert "REGISTRY_ACCOUNT='2222' is not a 12-digit account id" in message
    assert "PROMOTED_PARAMETER='esteira/delivery/promoted' is not an SSM parameter name" in message
    assert "HISTORY_PARAMETER='/esteira/delivery history' is not an SSM parameter name" in message


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("/esteira/delivery/promoted-model-package", True),
        ("esteira.promoted_model-package", True),
        ("/" + "/".join("abcdefghijklmno"), True),  # 15 levels
        ("/" + "/".join("abcdefghijklmnop"), False),  # 16 levels
        ("/esteira/" + "x" * 1002, True),  # 1011 characters
        ("/esteira/" + "x" * 1003, False),
        ("esteira/promoted", False),  # a hierarchy needs its leading slash
        ("/esteira//promoted", False),
        ("/esteira/promoted/", False),
        ("/aws/service/promoted", False),  # reserved prefixes, any case
        ("SSM-promoted", False),
        ("awesome-promoted", True),
        ("arn:aws:ssm:eu-west-1:123456789012:parameter/esteira/promoted", False),  # a name, not an ARN
    ],
)
def test_parameter_names_follow_ssm_rules(name: str, valid: bool) -> None:
    # GIVEN a PROMOTED_PARAMETER WHEN the settings are read THEN it is refused exactly when SSM would refuse it
    env = {**SETTINGS_ENV, "PROMOTED_PARAMETER": name}
    if valid:
        assert PromoterSettings.from_env(env).promoted_parameter == name
    else:
        with pytest.raises(SettingsError, match=r"PROMOTED_PARAMETER=.* is not an SSM parameter name"):
            PromoterSettings.from_env(env)


def test_settings_refuse_one_parameter_for_both() -> None:
    env = {**SETTINGS_ENV, "HISTORY_PARAMETER": SETTINGS_ENV["PROMOTED_PARAMETER"]}
    with pytest.raises(SettingsError, match="PROMOTED_PARAMETER and HISTORY_PARAMETER must name two different"):
        PromoterSettings.from_env(env)
