"""Bad input to the local run fails before anything starts (no Spark, no server), naming the key to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.options import DEMO_SPEC, parse_args
from stacks.config import CONFIG_DIR
from stacks.config_base import parse_yaml


def spec_file(tmp_path: Path, change: dict[str, Any]) -> Path:
    spec = json.loads(DEMO_SPEC.read_text())
    spec.update(change)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def config_file(tmp_path: Path, hyperparameters: dict[str, object], gate_metric: str = "auc") -> Path:
    data = parse_yaml((CONFIG_DIR / "dev.yaml").read_text())
    data["training"]["hyperparameters"].update(hyperparameters)
    data["training"]["gate"]["metric"] = gate_metric
    if not str(data["training"]["hyperparameters"].get("objective", "binary:")).startswith("binary:"):
        data["training"]["bias"]["enabled"] = False  # Clarify's bias analysis is for binary classification only
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        parse_args(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.fixture(autouse=True)
def no_source_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_URL", raising=False)
    monkeypatch.delenv("SOURCE_CA_BUNDLE", raising=False)


@pytest.fixture()
def user_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "user.db"
    path.write_bytes(b"")
    return str(path)


def test_a_label_column_missing_from_the_query_is_named(
    tmp_path: Path, user_sqlite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a spec whose label is a plain column that its query does not select
    spec = spec_file(tmp_path, {"label": {"column": "churned"}})
    # WHEN the run starts THEN it stops at once naming the label key and the column
    err = refused(capsys, "--spec", str(spec), "--source-sqlite", user_sqlite)
    assert "spec.label" in err and "'churned'" in err


def test_a_target_that_is_not_the_specs_label_is_named(
    tmp_path: Path, user_sqlite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, {"target": "salario"})
    err = refused(capsys, "--config", str(config), "--source-sqlite", user_sqlite)
    assert "training.hyperparameters.target is 'salario'" in err and "'desligado_em_12_meses'" in err


def test_a_regression_objective_on_a_string_label_is_refused(
    tmp_path: Path, user_sqlite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a spec whose label column is text, and a regression objective
    spec = json.loads(DEMO_SPEC.read_text())
    for column in spec["output_columns"]:
        if column["name"] == "desligado_em_12_meses":
            column["type"] = "string"
    (tmp_path / "text-label.json").write_text(json.dumps(spec))
    config = config_file(tmp_path, {"objective": "reg:squarederror"}, "r2")
    # WHEN the run starts THEN the label key, its type and the objective are named
    err = refused(
        capsys, "--config", str(config), "--spec", str(tmp_path / "text-label.json"), "--source-sqlite", user_sqlite
    )
    assert "spec.label.column 'desligado_em_12_meses' has type 'string'" in err
    assert "objective 'reg:squarederror' (training.hyperparameters.objective) needs a numeric label" in err


def test_a_text_feature_column_is_named_with_both_fixes(
    tmp_path: Path, user_sqlite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN drop_columns that leave the text column 'cargo' as a feature
    drop = "matricula,funcionario_id,atualizado_em,data_admissao,departamento,estado_civil,possui_filhos,"
    config = config_file(tmp_path, {"drop_columns": drop + "possui_plano_saude,trabalho_remoto"})
    err = refused(capsys, "--config", str(config), "--source-sqlite", user_sqlite)
    # THEN the column is named, with both ways out: drop it, or encode it with a spec rule
    assert "feature column 'cargo' is 'string', not numeric" in err
    assert "training.hyperparameters.drop_columns" in err and "with a rule of the extraction spec" in err


def test_change_rows_applies_only_to_the_demo(user_sqlite: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "--change-rows", "5", "--source-url", "postgresql://r:p@127.0.0.1:5432/db")
    assert "--change-rows" in err and "only to the demo source" in err
    err = refused(capsys, "--change-rows", "5", "--source-sqlite", user_sqlite)
    assert "only to the demo source" in err


def test_the_spec_comes_from_the_config_and_spec_overrides_it(tmp_path: Path, user_sqlite: str) -> None:
    # GIVEN the dev config (extraction.spec: the demo spec) WHEN no --spec is given THEN the config's spec is used
    assert parse_args(["--source-sqlite", user_sqlite]).spec.resolve() == DEMO_SPEC.resolve()
    # AND --spec overrides it
    other = spec_file(tmp_path, {"name": "employees_copy"})
    assert parse_args(["--source-sqlite", user_sqlite, "--spec", str(other)]).spec == other


def test_a_user_spec_needs_a_user_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = spec_file(tmp_path, {"name": "employees_copy"})
    err = refused(capsys, "--spec", str(other))
    assert "needs its own source" in err


def test_load_demo_needs_a_database_named_for_it(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN --load-demo without a database WHEN the run starts THEN it asks for the database to load
    err = refused(capsys, "--load-demo")
    assert "--load-demo needs --source-url" in err
    # AND with one, the run is a demo run: --change-rows is allowed there
    options = parse_args(["--load-demo", "--source-url", "postgresql://r:p@127.0.0.1:5432/demo", "--change-rows", "3"])
    assert options.demo_source and options.change_rows == 3


def test_a_named_source_is_never_the_demo(user_sqlite: str) -> None:
    assert not parse_args(["--source-sqlite", user_sqlite]).demo_source
    assert not parse_args(["--source-url", "postgresql://r:p@127.0.0.1:5432/db"]).demo_source
    assert parse_args([]).demo_source


def test_advance_days_moves_only_the_demos_clock_by_a_checked_number_of_days(
    user_sqlite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the demo source WHEN rows change THEN the clock moves the default 30 days, or the days given; else not
    assert parse_args(["--change-rows", "3"]).advance_days == 30
    assert parse_args(["--change-rows", "3", "--advance-days", "0"]).advance_days == 0
    assert parse_args(["--advance-days", "90"]).advance_days == 90
    assert parse_args([]).advance_days == 0
    # AND a number of days outside 0..365 is refused, naming the option
    for days in ("-1", "366"):
        assert "--advance-days must be between 0 and 365" in refused(capsys, "--advance-days", days)
    # AND a source the user names has no clock to move: it is only read
    err = refused(capsys, "--advance-days", "30", "--source-sqlite", user_sqlite)
    assert "--advance-days" in err and "only to the demo source" in err
    assert parse_args(["--source-sqlite", user_sqlite]).advance_days == 0


def test_glue_runner_must_name_a_listening_socket(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a path where no runner listens: nothing there, or a plain file
    plain = tmp_path / "not-a-socket"
    plain.write_text("")
    for path in (tmp_path / "missing.sock", plain):
        # WHEN the run is started with it THEN it is refused before anything starts, naming the option and the fix
        err = refused(capsys, "--glue-runner", str(path))
        assert f"--glue-runner {path}: no local Glue runner listens there" in err and "make glue-runner" in err
