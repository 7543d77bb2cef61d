"""Spec loading and validation: every mistake is reported with the offending key's path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from esteira_extract.spec import SpecError, load_spec, loads_spec, parse_spec
from tests.glue_jobs.conftest import DEMO_SPEC


def demo() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO_SPEC.read_text())
    return data


def errors_of(data: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return info.value.errors


def test_given_the_shipped_demo_spec_when_loaded_then_it_describes_the_employee_join() -> None:
    spec = load_spec(str(DEMO_SPEC))

    assert spec.name == "employees"
    assert spec.primary_key == "matricula"
    assert spec.watermark_column == "atualizado_em"
    assert (spec.partition_column, spec.num_partitions) == ("funcionario_id", 4)
    assert spec.label is not None and spec.label.column == "desligado_em_12_meses"
    assert "dt" not in spec.output_column_names
    sql = spec.source.select_sql()
    assert "FROM funcionarios f" in sql
    assert "INNER JOIN pessoas_fisicas p ON p.id = f.pessoa_fisica_id" in sql
    assert "f.id AS funcionario_id" in sql
    assert {r.kind for r in spec.rules} >= {"flag", "binary_map", "fill_null", "parse_date", "range"}


def test_given_a_file_uri_when_loaded_then_same_spec_as_plain_path() -> None:
    assert load_spec(DEMO_SPEC.as_uri()) == load_spec(str(DEMO_SPEC))


def test_given_a_query_source_when_parsed_then_the_query_is_used_verbatim() -> None:
    data = demo()
    data["source"] = {"query": "SELECT id AS funcionario_id, matricula FROM funcionarios;"}
    data["partitioning"] = {"column": "funcionario_id", "num_partitions": 1}

    spec = parse_spec(data)

    assert spec.source.select_sql() == "SELECT id AS funcionario_id, matricula FROM funcionarios"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("name"), "spec.name: is required"),
        (lambda d: d.update(name="Employees-Table"), "spec.name: 'Employees-Table' is not a valid snake_case"),
        (lambda d: d.pop("output_columns"), "spec.output_columns: is required"),
        (lambda d: d.update(extra=1), "spec.extra: unknown key"),
        (lambda d: d.pop("primary_key"), "spec.primary_key: is required"),
        (lambda d: d.update(primary_key="nope"), "spec.primary_key: 'nope' must be one of the output_columns"),
        (lambda d: d["watermark"].update(column="nope"), "spec.watermark.column: 'nope' is not one of source.columns"),
        (lambda d: d["partitioning"].update(num_partitions=0), "spec.partitioning.num_partitions: must be an integer"),
        (lambda d: d["partitioning"].pop("column"), "spec.partitioning.column: is required"),
        (lambda d: d["source"].update(query="SELECT 1"), "source: must have exactly one of 'query' or 'tables'"),
        (lambda d: d["source"]["tables"][1].pop("join"), "source.tables[1].join: is required"),
        (lambda d: d["source"]["tables"][1]["join"].update(type="cross"), "source.tables[1].join.type: must be one"),
        (lambda d: d["source"]["tables"][0].update(table="x;drop"), "source.tables[0].table: 'x;drop' is not a valid"),
        (lambda d: d["source"]["columns"].append("f.cargo"), "source.columns[17]: duplicate column name 'cargo'"),
        (lambda d: d["source"]["columns"].append({"name": "x", "expr": "1; DROP TABLE t"}), "source.columns[17].expr"),
        (
            lambda d: d["rules"].append({"type": "flg", "columns": ["x"]}),
            "spec.rules[19].type: unknown rule type 'flg'",
        ),
        (lambda d: d["rules"][0].pop("columns"), "spec.rules[0].columns: is required"),
        (lambda d: d["rules"][0].update(colums=["x"]), "spec.rules[0].colums: unknown key"),
        (lambda d: d["rules"][1].update(default=2), "spec.rules[1].default: must be 0, 1 or null"),
        (lambda d: d["rules"][3].update(to="datetime"), "spec.rules[3].to: must be 'date' or 'timestamp'"),
        (lambda d: d["rules"][9].update(min=200), "spec.rules[9].min: min (200.0) is greater than max (120.0)"),
        (lambda d: d["rules"][9].update(max="120"), "spec.rules[9].max: must be a number"),
        (lambda d: d["label"].pop("column"), "spec.label.column: is required"),
        (lambda d: d["output_columns"][0].update(type="varchar"), "spec.output_columns[0].type: must be one of"),
        (lambda d: d["output_columns"].append({"name": "dt", "type": "string"}), "spec.output_columns[22].name: 'dt'"),
        (lambda d: d["output_columns"].append(d["output_columns"][0]), "duplicate output column 'matricula'"),
    ],
)
def test_given_a_broken_spec_when_parsed_then_the_error_names_the_bad_key(mutate: Any, expected: str) -> None:
    data = copy.deepcopy(demo())
    mutate(data)

    errors = errors_of(data)

    assert any(expected in e for e in errors), errors


def test_given_several_mistakes_when_parsed_then_all_are_reported_at_once() -> None:
    data = demo()
    data.pop("name")
    data["partitioning"]["num_partitions"] = "four"
    data["output_columns"][2]["type"] = "text"

    errors = errors_of(data)

    assert len(errors) == 3
    assert str(SpecError(errors)).count("\n  - ") == 3


def test_given_invalid_json_when_loaded_then_spec_error_not_json_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",')

    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(str(path))
    with pytest.raises(SpecError, match="no spec found"):
        load_spec(str(tmp_path / "missing.json"))
    with pytest.raises(SpecError, match="spec: must be a JSON object"):
        loads_spec("[1, 2]")
