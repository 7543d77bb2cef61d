"""bin/train end to end in a temporary ESTEIRA_ML_ROOT."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pytest
import xgboost as xgb

from esteira_model import METRIC_DEFINITIONS
from esteira_model.metrics import METRIC_NAMES
from esteira_model.predictor import Predictor
from esteira_model.schema import EVALUATION_FILENAME, MODEL_FILENAME, SCHEMA_FILENAME
from tests.containers.model.conftest import TrainedTask
from tests.containers.model.helpers import FEATURES, FIXTURES, MLRoot, make_frame, run_train_in_process


def _metric_values(stdout: str) -> dict[str, float]:
    found = {}
    for definition in METRIC_DEFINITIONS:
        matches = re.findall(definition["Regex"], stdout)
        if matches:
            found[definition["Name"]] = float(matches[-1])
    return found


def test_train_on_parquet_tree_writes_model_schema_and_metrics(ml_root: MLRoot) -> None:
    # GIVEN a train channel laid out like the extraction job's output, with non-data files around it
    ml_root.write_parquet_tree("train", make_frame(900, seed=1))
    ml_root.write_input_data_config({"train": "application/x-parquet"})
    ml_root.write_hyperparameters({"target": "label", "drop_columns": "customer_id", "num_round": "30"})

    # WHEN train runs
    result = run_train_in_process(ml_root.root)

    # THEN it succeeds and writes XGBoost's model, the feature schema and the evaluation
    assert result.returncode == 0, result.stderr
    assert not ml_root.failure.exists()
    for name in (MODEL_FILENAME, SCHEMA_FILENAME, EVALUATION_FILENAME):
        assert (ml_root.model_dir / name).is_file(), name
    assert (ml_root.root / "output" / "data" / EVALUATION_FILENAME).is_file()
    # AND the schema lists the features in order, without the id, the label or the dt partition
    schema = json.loads((ml_root.model_dir / SCHEMA_FILENAME).read_text())
    assert [f["name"] for f in schema["features"]] == list(FEATURES)
    assert [f["type"] for f in schema["features"]] == ["float"] * 4 + ["integer", "boolean"]
    assert schema["classes"] == [0.0, 1.0]
    # AND the evaluation holds every required metric, computed on a seeded 20% split
    evaluation = json.loads((ml_root.model_dir / EVALUATION_FILENAME).read_text())
    validation = evaluation["validation"]
    for key in ("auc", "f1", "accuracy", "precision", "recall"):
        assert 0.0 <= validation[key] <= 1.0
    assert validation["auc"] > 0.8
    assert np.array(validation["confusion_matrix"]).sum() == evaluation["rows"]["validation"] == 180
    assert evaluation["rows"] == {"train": 720, "validation": 180, "total": 900}
    # AND the printed metric lines match the published regexes with the same values
    printed = _metric_values(result.stdout)
    assert set(printed) >= {"validation:auc", "validation:f1", "validation:accuracy", "train:rows"}
    for key in ("auc", "f1", "accuracy", "precision", "recall"):
        assert printed[f"validation:{key}"] == pytest.approx(validation[key], abs=1e-6)
    assert printed["train:rows"] == 720
    assert printed["best_iteration"] == evaluation["best_iteration"]


def test_metric_regexes_match_only_their_own_lines() -> None:
    # GIVEN the published metric definitions
    names = [d["Name"] for d in METRIC_DEFINITIONS]
    # WHEN they are matched against a log holding lookalike lines
    log = "[3]\tvalidation-auc:0.5\nvalidation:auc=0.912345\nvalidation:aucpr=0.1\nvalidation:rows=12\n"
    auc = next(d["Regex"] for d in METRIC_DEFINITIONS if d["Name"] == "validation:auc")
    # THEN each name is unique and the auc regex picks only the auc line
    assert len(set(names)) == len(names) == len(METRIC_NAMES)
    assert re.findall(auc, log) == ["0.912345"]


def test_model_directory_loads_without_pickle(trained_root: MLRoot) -> None:
    # GIVEN a trained model directory (the shared binary model)
    ml_root = trained_root
    # WHEN its files are inspected and loaded
    files = sorted(p.relative_to(ml_root.model_dir).as_posix() for p in ml_root.model_dir.rglob("*") if p.is_file())
    # THEN they are XGBoost's UBJSON model and JSON documents only (no pickle protocol header, no data rows)
    assert files == sorted([MODEL_FILENAME, SCHEMA_FILENAME, EVALUATION_FILENAME])
    assert not (ml_root.model_dir / MODEL_FILENAME).read_bytes().startswith(b"\x80")
    predictor = Predictor.load(ml_root.model_dir)
    assert predictor.num_features == len(FEATURES)


def test_csv_channels_with_validation_channel(ml_root: MLRoot) -> None:
    # GIVEN CSV train and validation channels (the checked-in fixture) and an explicit validation set
    (ml_root.channel("train") / "train.csv").write_bytes((FIXTURES / "train.csv").read_bytes())
    (ml_root.channel("validation") / "validation.csv").write_bytes((FIXTURES / "validation.csv").read_bytes())
    ml_root.write_input_data_config({"train": "text/csv", "validation": "text/csv"})
    ml_root.write_hyperparameters({"target": "label", "drop_columns": "customer_id", "num_round": "20"})
    # WHEN train runs
    result = run_train_in_process(ml_root.root)
    # THEN it validates on the validation channel, not a split
    assert result.returncode == 0, result.stderr
    evaluation = json.loads((ml_root.model_dir / EVALUATION_FILENAME).read_text())
    assert evaluation["validation_source"] == "validation"
    assert evaluation["rows"]["train"] == 300
    assert evaluation["rows"]["validation"] == 100


@pytest.mark.parametrize(
    ("task", "objective", "expected_metric"),
    [("multiclass", "multi:softprob", "validation:accuracy"), ("regression", "reg:squarederror", "validation:rmse")],
)
def test_objective_selects_multiclass_and_regression(
    trained_task: Callable[[str], TrainedTask], task: str, objective: str, expected_metric: str
) -> None:
    # GIVEN data for the task and the objective as a string hyperparameter
    # WHEN train runs (once per task, shared: the fixture asserts it exited 0)
    trained = trained_task(task)
    ml_root = trained.root
    hyperparameters = json.loads((ml_root.root / "input" / "config" / "hyperparameters.json").read_text())
    assert hyperparameters["objective"] == objective
    # THEN the model and its task-specific metrics are written
    assert expected_metric in _metric_values(trained.stdout)
    predictor = Predictor.load(ml_root.model_dir)
    predictions = predictor.predict(make_frame(5, seed=4, task=task)[list(FEATURES)].to_numpy(dtype=np.float64))
    assert predictions.scores.shape == (5,)
    if task == "multiclass":
        assert predictor.class_labels == [0, 1, 2]
        assert predictions.label_index is not None
    else:
        assert predictions.label_index is None
    booster = xgb.Booster(model_file=str(ml_root.model_dir / MODEL_FILENAME))
    assert booster.num_boosted_rounds() >= 1
