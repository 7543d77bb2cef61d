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
