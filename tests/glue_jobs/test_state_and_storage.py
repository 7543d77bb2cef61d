"""Watermark state, storage URIs (local and S3 via moto) and JDBC SQL building, without Spark jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from esteira_extract.jdbc import driver_for, incremental_sql
from esteira_extract.spec import load_spec
from esteira_extract.storage import (
    delete_object,
    delete_tree,
    join_uri,
    read_json,
    read_text,
    spark_path,
    write_json,
)
from esteira_extract.watermark import State, StateError, Watermark, WatermarkStore, count_and_max_watermark
from tests.glue_jobs.conftest import DEMO_SPEC, AwsEndpoint

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def state(wm: Watermark | None, spec_name: str = "employees") -> State:
    return State(spec_name, wm, "r1", "2025-07-01", "2025-07-01T00:00:00+00:00", "m.json")


def test_given_no_state_when_loaded_then_none_and_a_saved_state_round_trips(tmp_path: Path) -> None:
    store = WatermarkStore(str(tmp_path / "state" / "wm.json"))
    wm = Watermark("atualizado_em", "2025-06-30 10:00:00.123000", "timestamp")

    assert store.load("employees", "atualizado_em") is None
    store.save(state(wm))

    assert store.load("employees", "atualizado_em") == state(wm)


@pytest.mark.parametrize(
    ("saved", "spec_name", "column", "message"),
    [
        (state(Watermark("atualizado_em", 5, "integer"), "other"), "employees", "atualizado_em", "belongs to spec"),
        (state(Watermark("criado_em", 5, "integer")), "employees", "atualizado_em", "delete the state object"),
        (state(Watermark("atualizado_em", "yesterday", "timestamp")), "employees", "atualizado_em", "bad timestamp"),
    ],
)
def test_given_a_state_that_does_not_fit_the_spec_when_loaded_then_state_error(
    tmp_path: Path, saved: State, spec_name: str, column: str, message: str
) -> None:
    store = WatermarkStore(str(tmp_path / "wm.json"))
    store.save(saved)

    with pytest.raises(StateError, match=message):
        store.load(spec_name, column)


def test_given_a_malformed_state_file_when_loaded_then_state_error(tmp_path: Path) -> None:
    (tmp_path / "wm.json").write_text(json.dumps({"spec_name": "employees"}))

    with pytest.raises(StateError, match="malformed state"):
        WatermarkStore(str(tmp_path / "wm.json")).load("employees", "atualizado_em")


def test_given_watermarks_of_each_kind_when_rendered_then_safe_sql_literals() -> None:
    assert Watermark("c", 42, "integer").sql_literal() == "42"
    assert Watermark("c", "2025-01-02", "date").sql_literal() == "'2025-01-02'"
    assert Watermark("c", "2025-01-02 03:04:05.000006", "timestamp").sql_literal() == "'2025-01-02 03:04:05.000006'"
    assert Watermark("c", "O'Brien", "string").sql_literal() == "'O''Brien'"
    with pytest.raises(StateError):
        Watermark("c", "2025-01-02'; DROP TABLE x; --", "date").sql_literal()


def test_given_the_demo_spec_and_a_watermark_when_sql_built_then_filter_wraps_the_join() -> None:
    spec = load_spec(str(DEMO_SPEC))
    wm = Watermark("atualizado_em", "2025-01-01 00:00:00.000000", "timestamp")

    sql = incremental_sql(spec, wm)

    assert sql.startswith("SELECT * FROM (SELECT")
    assert sql.endswith(") esteira_base WHERE atualizado_em > '2025-01-01 00:00:00.000000'")
    assert incremental_sql(spec, None) == spec.source.select_sql()


def test_given_jdbc_urls_when_driver_resolved_then_class_matches_subprotocol() -> None:
    assert driver_for("jdbc:postgresql://h:5432/db") == "org.postgresql.Driver"
    assert driver_for("jdbc:sqlite:/tmp/x.db") == "org.sqlite.JDBC"
    with pytest.raises(ValueError, match="unsupported JDBC URL 'jdbc:db2://h/db'"):
        driver_for("jdbc:db2://h/db?password=secret")


def test_given_local_uris_when_converted_then_spark_paths_keep_hive_partition_names(tmp_path: Path) -> None:
    assert join_uri("s3://b/prefix/", "dt=2025-01-01", "/run_id=r/") == "s3://b/prefix/dt=2025-01-01/run_id=r"
    assert spark_path("s3://b/p/dt=1") == "s3://b/p/dt=1"
    assert spark_path(f"file://{tmp_path}/x/dt=2025-01-01") == f"file://{tmp_path}/x/dt=2025-01-01"
    assert spark_path(str(tmp_path / "dt=1")) == f"file://{tmp_path}/dt=1"


def test_given_s3_uris_when_json_written_read_and_deleted_then_moto_holds_the_objects(aws: AwsEndpoint) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="esteira-storage")
    base = "s3://esteira-storage/curated/employees"

    assert read_json(f"{base}/missing.json") is None
    write_json(f"{base}/dt=1/a.json", {"a": 1})
    write_json(f"{base}/dt=1/b.json", {"b": 2})
    write_json(f"{base}/keep.json", {"k": 0})
    assert read_json(f"{base}/dt=1/a.json") == {"a": 1}

    delete_tree(f"{base}/dt=1/")
    delete_object(f"{base}/keep.json")

    assert read_text(f"{base}/dt=1/a.json") is None
    assert s3.list_objects_v2(Bucket="esteira-storage").get("KeyCount") == 0


def test_given_local_paths_when_json_written_then_atomic_replace_and_tree_delete(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"

    write_json(str(target), {"v": 1})
    write_json(f"file://{target}", {"v": 2})

    assert read_json(str(target)) == {"v": 2}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]
    delete_tree(str(tmp_path / "deep"))
    assert not target.parent.exists()


@pytest.mark.parametrize(
    ("ddl", "values", "expected"),
    [
        (
            "w TIMESTAMP",
            ["2025-01-02 03:04:05.123456", "2024-12-31 00:00:00"],
            ("timestamp", "2025-01-02 03:04:05.123456"),
        ),
        ("w DATE", ["2025-01-02", "2025-03-01"], ("date", "2025-03-01")),
        ("w BIGINT", ["7", "12"], ("integer", 12)),
        ("w STRING", ["b", "a"], ("string", "b")),
    ],
)
def test_given_rows_when_counted_then_the_count_and_the_highest_watermark_come_from_one_aggregation(
    spark: SparkSession, ddl: str, values: list[str], expected: tuple[str, object]
) -> None:
    # GIVEN rows of each watermark kind, one of them with a null watermark
    column_type = ddl.split()[1]
    literals = ", ".join(f"(CAST('{v}' AS {column_type}))" for v in values)
    df = spark.sql(f"SELECT * FROM VALUES {literals}, (CAST(NULL AS {column_type})) AS t(w)")
    # WHEN counted
    rows, highest = count_and_max_watermark(df, "w")
    # THEN every row counts, nulls included, and the highest value is rendered for the next run's filter
    assert rows == len(values) + 1
    assert highest == Watermark(column="w", value=expected[1], kind=expected[0])  # type: ignore[arg-type]


def test_given_no_rows_when_counted_then_zero_and_no_watermark(spark: SparkSession) -> None:
    df = spark.sql("SELECT CAST(NULL AS TIMESTAMP) AS w").where("w IS NOT NULL")
    assert count_and_max_watermark(df, "w") == (0, None)
