"""The local run's data-quality baseline (a report-only reimplementation of the analyzer's statistics), the
capture-format check, the holdout's CSV rendering, and the package's DriftCheckBaselines in moto's registry."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from pipeline import aws, baseline, model
from tests.servers import module_server

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline" / "baseline"
FEATURES = ["salary", "rating", "hours", "team", "unused"]


@pytest.fixture(scope="module")
def stats() -> dict[str, Any]:
    return baseline.statistics(baseline.read_csv_rows(sorted(FIXTURE.glob("*.csv"))))


def numbers(stats: dict[str, Any], index: int) -> dict[str, Any]:
    found: dict[str, Any] = stats["features"][index]["numerical_statistics"]
    return found


def test_statistics_are_the_analyzers_per_column_numbers(stats: dict[str, Any]) -> None:
    # GIVEN a headerless baseline CSV of 4 records (Spark's .crc file beside it is not read)
    # WHEN its statistics are computed
    # THEN columns are named by position as the analyzer names a headerless CSV's, with the dataset's item count
    assert stats["version"] == 0 and stats["dataset"] == {"item_count": 4}
    assert [f["name"] for f in stats["features"]] == ["_c0", "_c1", "_c2", "_c3", "_c4"]
    assert [f["inferred_type"] for f in stats["features"]] == [
        "Fractional",
        "Integral",
        "Integral",
        "String",
        "Unknown",
    ]
    # AND a column with an empty field counts it missing; mean, sum, population std_dev, min and max of the rest
    salary = numbers(stats, 0)
    assert salary["common"] == {"num_present": 3, "num_missing": 1}
    assert salary["sum"] == pytest.approx(8.0)
    assert salary["mean"] == pytest.approx(8.0 / 3)
    assert salary["std_dev"] == pytest.approx(
        math.sqrt(((1.5 - 8 / 3) ** 2 + (2.5 - 8 / 3) ** 2 + (4 - 8 / 3) ** 2) / 3)
    )
    assert (salary["min"], salary["max"]) == (1.5, 4.0)
    hours = numbers(stats, 2)
    assert hours["common"] == {"num_present": 4, "num_missing": 0}
    assert (hours["mean"], hours["std_dev"]) == (25.0, pytest.approx(math.sqrt(125)))
    assert numbers(stats, 1)["min"] == -1.0
    # AND a text column gets string statistics, an all-empty one only its missing count
    assert stats["features"][3]["string_statistics"] == {
        "common": {"num_present": 4, "num_missing": 0},
        "distinct_count": 3.0,
    }
    assert stats["features"][4]["string_statistics"]["common"] == {"num_present": 0, "num_missing": 4}


def test_constraints_suggest_types_completeness_and_non_negativity(stats: dict[str, Any]) -> None:
    suggested = baseline.constraints(stats)
    assert suggested["version"] == 0
    assert suggested["features"][0] == {
        "name": "_c0",
        "inferred_type": "Fractional",
        "completeness": 0.75,
        "num_constraints": {"is_non_negative": True},
    }
    assert suggested["features"][1]["num_constraints"] == {"is_non_negative": False}
    assert suggested["features"][3] == {"name": "_c3", "inferred_type": "String", "completeness": 1.0}
    assert suggested["monitoring_config"]["evaluate_constraints"] == "Enabled"
    assert suggested["monitoring_config"]["distribution_constraints"]["perform_comparison"] == "Enabled"
    json.dumps(suggested)  # the files are JSON


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("12", "Integral"),
        ("-3", "Integral"),
        ("4.0", "Fractional"),
        ("1.5", "Fractional"),
        ("true", "Boolean"),
        ("1.0E7", "String"),
        ("abc", "String"),
    ],
)
def test_field_types_follow_deequ(value: str, kind: str) -> None:
    assert baseline.field_type(value) == kind


def test_records_in_capture_format_parse_against_the_baseline(stats: dict[str, Any]) -> None:
    # GIVEN the baseline's constraints, and records as capture holds them (headerless, features in request order)
    suggested = baseline.constraints(stats)
    good = ["3.25,2,7,x,", "7,,8,y,anything", ",,,,"]
    # WHEN checked THEN they parse: integers in a Fractional column and empty fields are fine
    check = baseline.check_capture(good, suggested, FEATURES)
    assert (check.records, check.problems, check.passed) == (3, [], True)


def test_records_of_another_width_or_type_fail_with_the_field_named(stats: dict[str, Any]) -> None:
    suggested = baseline.constraints(stats)
    bad = ["1.5,3,10,a", "1.5,4.0,10,a,", "abc,3,10,a,"]
    check = baseline.check_capture(bad, suggested, FEATURES)
    assert not check.passed
    assert check.problems == [
        "record 1: 4 fields, the baseline has 5 columns",
        "record 2, field 2 (rating, baseline _c1 Integral): '4.0' is Fractional",
        "record 3, field 1 (salary, baseline _c0 Fractional): 'abc' is String",
    ]
    assert baseline.describe_problems(check).startswith("record 1: 4 fields")


def test_a_baseline_of_ragged_records_is_refused() -> None:
    with pytest.raises(baseline.BaselineError, match=r"records of \[2, 3\] fields"):
        baseline.statistics([["1", "2"], ["1", "2", "3"]])


def test_holdout_integers_with_nulls_render_as_the_baseline_renders_them(tmp_path: Path) -> None:
    # GIVEN a holdout split whose integer column has a null (pandas alone would make it 4.0 and nan)
    folder = tmp_path / "holdout"
    folder.mkdir()
    frame = pd.DataFrame({"rating": pd.array([4, None], dtype="Int32"), "salary": [1.5, 2.0]})
    frame.to_parquet(folder / "part-0.parquet")
    # WHEN it is read and rendered as the serve stage sends it
    lines = model.csv_lines(model.read_parquet_dir(folder), ["rating", "salary"])
    # THEN the integer stays an integer and the null an empty field, as in the dataset job's baseline CSV
    assert lines == ["4,1.5", ",2.0"]


@contextlib.contextmanager
def local_registry() -> Iterator[Any]:
    """moto's SageMaker in server mode, with the local run's empty package group."""
    with module_server("pipeline.moto_server") as endpoint:
        client = boto3.client(
            "sagemaker", region_name=aws.REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x"
        )
        client.create_model_package_group(ModelPackageGroupName=aws.MODEL_PACKAGE_GROUP)
        yield client


def test_the_package_and_its_replay_carry_the_runs_drift_check_baselines(tmp_path: Path) -> None:
    # GIVEN the run's baseline files
    folder = "s3://esteira-local-artifacts/monitoring/baselines/run_id=r1/"
    drift = {
        "ModelDataQuality": {
            "Constraints": {"ContentType": "application/json", "S3Uri": f"{folder}constraints.json"},
            "Statistics": {"ContentType": "application/json", "S3Uri": f"{folder}statistics.json"},
        }
    }
    metadata = {"metric.auc": "0.9"}
    with local_registry() as sagemaker:
        # WHEN register creates the package in moto's registry
        arn = aws.create_package(sagemaker, "esteira-model:local", "s3://b/m.tar.gz", metadata, "Approved", drift)
        # THEN the package names them, as the state machine's Register does
        assert sagemaker.describe_model_package(ModelPackageName=arn)["DriftCheckBaselines"] == drift
    registry = aws.Registry(tmp_path / "registry.json")
    record = {"arn": arn, "image": "esteira-model:local", "model_data_url": "s3://b/m.tar.gz"}
    registry.add(record | {"customer_metadata": metadata, "drift_check_baselines": drift})
    # AND the next run's replay of registry.json into a fresh moto recreates the package with them
    with local_registry() as sagemaker:
        aws.Registry(tmp_path / "registry.json").replay(sagemaker)
        assert sagemaker.describe_model_package(ModelPackageName=arn)["DriftCheckBaselines"] == drift
