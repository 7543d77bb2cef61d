"""training.bias: facets checked against the extraction spec, the gate's metric against Clarify's, the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.bias_config import BiasConfig, clarify_columns
from stacks.config import ConfigError, load_config
from stacks.extraction_spec import read_spec_summary
from tests.stacks.test_aws_rules import load_mutated

SPEC = read_spec_summary(load_config("prod").extraction.spec_path)
TARGET = "desligado_em_12_meses"
DROPPED = ("matricula", "funcionario_id", "atualizado_em", "data_admissao", "cargo", "departamento", "faixa_etaria")


def bias(*facets: dict[str, Any]) -> BiasConfig:
    return BiasConfig.model_validate({"enabled": True, "facets": list(facets)})


def test_the_demo_facets_are_holdout_columns_and_the_age_bands_never_reach_the_model() -> None:
    # GIVEN the shipped facets (masculino, a feature; faixa_etaria, dropped from training) WHEN the holdout's
    # columns are worked out from the spec
    config = load_config("prod")
    assert [f.column for f in config.training.bias.facets] == ["masculino", "faixa_etaria"]
    columns = clarify_columns(config.training.bias, SPEC, target=TARGET, drop_columns=DROPPED)
    # THEN the headers are the spec's output columns; the model gets only its features, in their order, and the
    # age bands are among Clarify's excluded_columns: a facet, not a model input
    assert columns.headers == tuple(c.name for c in SPEC.output_columns)
    assert {"masculino", "idade_na_admissao"} <= set(columns.features)
    assert "faixa_etaria" not in columns.features and "faixa_etaria" in columns.excluded
    assert set(columns.excluded) == set(columns.headers) - set(columns.features) - {TARGET}
    assert TARGET not in columns.excluded and "matricula" in columns.excluded


@pytest.mark.parametrize(
    ("facet", "message"),
    [
        ({"column": "nao_existe", "values_or_threshold": [1]}, "training.bias.facets.0.column: 'nao_existe' is not"),
        ({"column": "cargo", "values_or_threshold": [1]}, "training.bias.facets.0.column: 'cargo' is a string column"),
        ({"column": TARGET, "values_or_threshold": [1]}, f"training.bias.facets.0.column: '{TARGET}' is the label"),
        ({"column": "masculino", "values_or_threshold": ["M"]}, "training.bias.facets.0.values_or_threshold"),
        (
            {"column": "salario", "values_or_threshold": [1000, 2000]},
            "training.bias.facets.0.values_or_threshold: 'salario' is continuous (double)",
        ),
    ],
)
def test_a_facet_clarify_cannot_use_fails_naming_its_key(facet: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        clarify_columns(bias(facet), SPEC, target=TARGET, drop_columns=DROPPED)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ({"training.bias.facets": []}, "training.bias.facets: name at least one facet"),
        (
            {"training.bias.facets": [{"column": "masculino", "values_or_threshold": [1]}] * 2},
            "training.bias.facets.1.column: 'masculino' is already a facet",
        ),
        (
            {"training.bias.facets": [{"column": TARGET, "values_or_threshold": [1]}]},
            f"training.bias.facets.0.column: '{TARGET}' is the label",
        ),
        ({"training.bias.gate.metric": "CI"}, "training.bias.gate.metric 'CI' is not a Clarify post_training"),
        ({"training.bias.gate.min": 2.0}, "training.bias.gate.min (2) must be <= training.bias.gate.max"),
        ({"training.hyperparameters.objective": "reg:squarederror", "training.gate.metric": "rmse"}, "binary"),
    ],
)
def test_a_bias_config_clarify_would_refuse_fails_naming_the_key(
    tmp_path: Path, mutate: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_mutated(tmp_path, "prod", mutate)
    assert message in str(error.value)
    assert "Traceback" not in str(error.value)


def test_a_disabled_bias_config_needs_no_facets() -> None:
    assert not BiasConfig().enabled and BiasConfig().facets == ()
