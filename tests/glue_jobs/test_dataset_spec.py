"""The spec's ``dataset`` section and the feature order, checked without Spark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from esteira_dataset import job
from esteira_dataset.spec import DatasetSpecError, load_dataset_spec, parse_dataset_spec
from esteira_extract.transforms import SPARK_TYPES
from esteira_model.columns import feature_columns
from esteira_model.hyperparameters import Hyperparameters
from tests.glue_jobs.dataset_data import DEMO_FEATURES, DEMO_SECTION, config_drop_columns, demo_document


def test_given_the_demo_spec_and_section_when_parsed_then_rules_key_watermark_and_label_come_from_it() -> None:
    spec = parse_dataset_spec(demo_document())

    section = json.loads(DEMO_SECTION.read_text())
    assert spec.rules.label_final_when == section["label_final_when"]
    assert spec.rules.score_when == section["score_when"]
    assert spec.rules.tombstone_when is None
    assert (spec.key, spec.watermark, spec.label) == ("matricula", "atualizado_em", "desligado_em_12_meses")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_given_each_config_when_features_listed_then_the_container_picks_the_same_columns_in_order(env: str) -> None:
    # GIVEN the spec's output columns as the container would read them from the train channel
    spec = parse_dataset_spec(demo_document())
    dtypes = {"int": "Int32", "bigint": "Int64", "double": "float64", "float": "float32", "boolean": "boolean"}
    frame = pd.DataFrame(
        {c.name: pd.Series([], dtype=dtypes.get(c.type, "object")) for c in spec.extraction.output_columns}
    )
    drop = config_drop_columns(env)
    params = Hyperparameters(target=spec.label, drop_columns=drop)

    # WHEN the job and the container's train each list the features
    ours = spec.features(drop)
    theirs = feature_columns(frame, params, "train")

    # THEN they agree, in order, and the config passes the job's checks
    assert ours == theirs == DEMO_FEATURES
    assert spec.check_features(drop) == []
    assert set(SPARK_TYPES) >= {c.type for c in spec.extraction.output_columns}


def _errors(document: Any) -> list[str]:
    with pytest.raises(DatasetSpecError) as caught:
        parse_dataset_spec(document)
    return caught.value.errors


def _without(key: str) -> dict[str, Any]:
    document = demo_document()
    del document[key]
    return document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_without("primary_key"), "spec.primary_key: is required"),
        (_without("dataset"), "spec.dataset: is required by the dataset job"),
        (_without("label"), "spec.label: is required by the dataset job"),
        (
            demo_document(label_final_when="(desligado_em_12_meses = 1"),
            "spec.dataset.label_final_when: has an unclosed",
        ),
        (demo_document(label_final_when="x = 1) OR (y = 2"), "spec.dataset.label_final_when: has a ')' without"),
        (demo_document(label_final_when="cargo = 'gerente"), "spec.dataset.label_final_when: has an unclosed '"),
        (demo_document(label_final_when="x = 1; DROP TABLE t"), "spec.dataset.label_final_when: must be a single"),
        (demo_document(label_final_when="SELECT 1"), "spec.dataset.label_final_when: must be a boolean condition"),
        (demo_document(label_final_when=None), "spec.dataset.label_final_when: is required"),
        (demo_document(score_when=""), "spec.dataset.score_when: must be a non-empty Spark SQL condition"),
        (demo_document(tombstone_when=3), "spec.dataset.tombstone_when: must be a non-empty Spark SQL condition"),
        (demo_document(label_final=True), "spec.dataset.label_final: unknown key"),
        ([1, 2], "spec: must be a JSON object"),
    ],
)
def test_given_a_malformed_spec_when_parsed_then_the_error_names_the_key(document: Any, expected: str) -> None:
    errors = _errors(document)

    assert any(e.startswith(expected) for e in errors), errors


def test_given_quotes_escapes_and_nested_parentheses_when_parsed_then_the_condition_is_accepted() -> None:
    text = "cargo IN ('it''s', 'a\\'b', \"c)\") AND (add_months(data_admissao, (12)) <= as_of_date)"

    spec = parse_dataset_spec(demo_document(label_final_when=text))

    assert spec.rules.label_final_when == text


def test_given_an_output_column_named_as_of_date_when_parsed_then_it_is_refused_as_reserved() -> None:
    document = demo_document()
    document["output_columns"].append({"name": "as_of_date", "type": "date"})

    assert "spec.output_columns: 'as_of_date' is reserved for the dataset job's --as_of_date" in _errors(document)


def test_given_several_mistakes_when_parsed_then_every_key_is_named_at_once() -> None:
    document = demo_document(label_final_when="(", tombstone_when="")
    del document["primary_key"]

    errors = _errors(document)

    assert {e.split(":")[0] for e in errors} >= {
        "spec.primary_key",
        "spec.dataset.label_final_when",
        "spec.dataset.tombstone_when",
    }


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        (("funcionario_id",), "--drop_columns must list the primary key 'matricula'"),
        (("matricula", "funcionario_id"), "--drop_columns: features cargo (string), departamento (string)"),
        ((*config_drop_columns(), "salary"), "--drop_columns: salary not among the spec's output_columns"),
    ],
)
def test_given_drop_columns_that_misfit_the_spec_when_checked_then_the_argument_is_named(
    drop: tuple[str, ...], expected: str
) -> None:
    spec = parse_dataset_spec(demo_document())

    problems = spec.check_features(drop)

    assert any(p.startswith(expected) for p in problems), problems


def test_given_a_text_feature_when_checked_then_both_fixes_are_named() -> None:
    # GIVEN drop_columns that leave text columns as features WHEN checked
    problems = parse_dataset_spec(demo_document()).check_features(("matricula", "funcionario_id"))
    # THEN the message says to drop them or to encode them with a spec rule, as the container's train says
    text = next(p for p in problems if "not numeric" in p)
    assert "list them in drop_columns" in text and "encode them as numbers with a rule of the spec" in text


def test_given_a_missing_or_non_json_spec_file_when_loaded_then_the_error_says_so(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")

    with pytest.raises(DatasetSpecError, match="no spec found"):
        load_dataset_spec(str(tmp_path / "absent.json"))
    with pytest.raises(DatasetSpecError, match="is not valid JSON"):
        load_dataset_spec(str(tmp_path / "bad.json"))


def test_given_a_spec_without_primary_key_when_the_job_starts_then_it_exits_naming_the_key_before_spark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a spec without a primary key, and Spark that must not be started
    document = demo_document()
    del document["primary_key"]
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(document))

    def no_spark() -> None:
        raise AssertionError("Spark was started before the spec was checked")

    monkeypatch.setattr(job, "_local_spark", no_spark)
    argv = ["dataset_job.py", "--spec_uri", str(spec_path), "--curated_uri", str(tmp_path / "c")]
    argv += ["--datasets_uri", str(tmp_path / "d"), "--run_id", "r1", "--drop_columns", ",".join(config_drop_columns())]

    # WHEN the job's entry point runs
    with pytest.raises(SystemExit) as exited:
        job.main(argv)

    # THEN it exits with one message naming the key, no traceback, no Spark
    assert "spec.primary_key: is required" in str(exited.value.code)
    assert not (tmp_path / "d").exists()


def test_given_bad_arguments_when_the_job_starts_then_it_exits_naming_each_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_spark() -> None:
        raise AssertionError("Spark was started before the arguments were checked")

    monkeypatch.setattr(job, "_local_spark", no_spark)

    with pytest.raises(SystemExit) as exited:
        job.main(["dataset_job.py", "--run_id", "bad id", "--train_fraction", "0.9"])

    message = str(exited.value.code)
    for name in ("spec_uri is required", "curated_uri is required", "datasets_uri is required", "run_id='bad id'"):
        assert name in message
