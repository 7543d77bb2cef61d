"""The rule union: each JSON rule type parses to its own class once; a malformed rule names its key."""

from __future__ import annotations

import copy
import json
import typing
from typing import Any

import pytest

from esteira_extract.rules import (
    RULE_CLASSES,
    RULE_TYPES,
    BinaryMapRule,
    CheckRule,
    DeriveRule,
    FillNullRule,
    FlagRule,
    MapValuesRule,
    NotNullRule,
    ParseDateRule,
    RangeRule,
    Rule,
    parse_rule,
)
from esteira_extract.spec import SpecError, parse_spec
from esteira_extract.spec_checker import Checker
from tests.glue_jobs.conftest import DEMO_SPEC

PATH = "spec.rules[0]"


def parsed(value: Any) -> tuple[Rule | None, list[str]]:
    checker = Checker()
    rule = parse_rule(checker, value, PATH)
    return rule, checker.errors


# One well-formed JSON rule per kind, and the object it must parse to.
VALID: list[tuple[dict[str, Any], Rule]] = [
    (
        {"type": "flag", "columns": ["filhos"], "true_value": "Y", "description": "why"},
        FlagRule(columns=("filhos",), true_value="Y", false_value="N", default="N"),
    ),
    (
        {"type": "binary_map", "column": "sexo", "output": "masculino", "true_values": ["m"], "false_values": ["f"]},
        BinaryMapRule(column="sexo", output="masculino", true_values=("M",), false_values=("F",), default=0),
    ),
    (
        {"type": "fill_null", "columns": ["a", "b"], "value": 0},
        FillNullRule(columns=("a", "b"), value=0),
    ),
    (
        {"type": "fill_null", "column": "estado_civil", "value": "nao_informado"},
        FillNullRule(columns=("estado_civil",), value="nao_informado"),
    ),
    (
        {"type": "parse_date", "column": "nascimento", "formats": ["yyyy-MM-dd"], "to": "timestamp"},
        ParseDateRule(column="nascimento", formats=("yyyy-MM-dd",), to="timestamp"),
    ),
    ({"type": "range", "column": "idade", "min": 14}, RangeRule(column="idade", min=14.0, max=None)),
    ({"type": "not_null", "columns": ["admissao"]}, NotNullRule(columns=("admissao",))),
    ({"type": "derive", "column": "x", "expression": "a + 1;"}, DeriveRule(column="x", expression="a + 1")),
    ({"type": "check", "name": "positive", "condition": "x > 0"}, CheckRule(name="positive", condition="x > 0")),
    (
        {"type": "map_values", "column": "uf", "mapping": {"SP": 1, "RJ": 2}, "default": -1},
        MapValuesRule(column="uf", mapping=(("SP", 1), ("RJ", 2)), default=-1),
    ),
]

# One malformed JSON rule per kind, and the key path its error must name.
MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"type": "flag", "columns": ["Bad-Name"]}, f"{PATH}.columns[0]: 'Bad-Name' is not a valid column name"),
    ({"type": "binary_map", "column": "s", "output": "o", "true_values": ["M"], "default": 1.0}, f"{PATH}.default"),
    ({"type": "binary_map", "column": "s", "output": "o", "true_values": ["M"], "default": True}, f"{PATH}.default"),
    ({"type": "fill_null", "column": "a", "columns": ["b"], "value": 0}, f"{PATH}: fill_null needs exactly one"),
    ({"type": "fill_null", "column": "a"}, f"{PATH}.value: is required"),
    ({"type": "parse_date", "column": "d", "formats": []}, f"{PATH}.formats: must be a non-empty list"),
    ({"type": "range", "column": "r"}, f"{PATH}: range needs at least one of 'min' or 'max'"),
    ({"type": "not_null", "columns": "a"}, f"{PATH}.columns: must be a non-empty list"),
    ({"type": "derive", "column": "x", "expression": "1; DROP TABLE t"}, f"{PATH}.expression: must be a single"),
    ({"type": "check", "name": "Not Snake", "condition": "x > 0"}, f"{PATH}.name: 'Not Snake' is not a valid check"),
    ({"type": "map_values", "column": "uf", "mapping": {}}, f"{PATH}.mapping: must be a non-empty JSON object"),
    ({"type": "map_values", "column": "uf", "mapping": {"SP": [1]}}, f"{PATH}.mapping.SP: must be a string"),
]


def test_given_the_union_then_every_rule_type_has_exactly_one_class_carrying_its_kind() -> None:
    members = typing.get_args(Rule)

    assert set(RULE_CLASSES.values()) == set(members)
    assert all(cls.kind == kind for kind, cls in RULE_CLASSES.items())
    assert {rule["type"] for rule, _ in VALID} == set(RULE_TYPES)
    assert {rule["type"] for rule, _ in MALFORMED} == set(RULE_TYPES)


@pytest.mark.parametrize(("value", "expected"), VALID, ids=lambda v: v["type"] if isinstance(v, dict) else "")
def test_given_a_well_formed_rule_when_parsed_then_it_is_its_kinds_class(value: dict[str, Any], expected: Rule) -> None:
    rule, errors = parsed(value)

    assert errors == []
    assert rule == expected
    assert rule is not None and rule.kind == value["type"]


@pytest.mark.parametrize(("value", "expected"), MALFORMED, ids=lambda v: v["type"] if isinstance(v, dict) else "")
def test_given_a_malformed_rule_when_parsed_then_the_error_names_its_key(value: dict[str, Any], expected: str) -> None:
    _, errors = parsed(value)

    assert any(error.startswith(expected) for error in errors), errors


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("flag", f"{PATH}: must be a JSON object, got str"),
        ({"columns": ["a"]}, f"{PATH}.type: unknown rule type None; expected one of {', '.join(RULE_TYPES)}"),
        ({"type": ["flag"], "columns": ["a"]}, f"{PATH}.type: unknown rule type ['flag']"),
        ({"type": "derive", "column": "x"}, f"{PATH}.expression: is required"),
        ({"type": "not_null", "columns": ["a"], "column": "a"}, f"{PATH}.column: unknown key (allowed: columns, "),
    ],
)
def test_given_a_rule_of_no_usable_shape_when_parsed_then_the_error_names_the_key(value: Any, expected: str) -> None:
    rule, errors = parsed(value)

    assert any(error.startswith(expected) for error in errors), errors
    assert rule is None or errors


def test_given_a_malformed_rule_inside_a_spec_when_parsed_then_the_spec_error_names_its_index() -> None:
    # GIVEN the demo spec with a derive rule whose expression is not a string
    data = json.loads(DEMO_SPEC.read_text())
    broken = copy.deepcopy(data)
    broken["rules"].append({"type": "derive", "column": "x", "expression": 42})

    # WHEN it is parsed THEN the error names the rule's index and key, and the unbroken spec still parses
    with pytest.raises(SpecError) as info:
        parse_spec(broken)
    assert info.value.errors == [f"spec.rules[{len(data['rules'])}].expression: must be a non-empty string, got 42"]
    assert all(type(rule) in RULE_CLASSES.values() for rule in parse_spec(data).rules)
