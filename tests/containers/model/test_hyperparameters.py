"""Hyperparameters arrive as strings from SageMaker and become typed values with defaults."""

from __future__ import annotations

import pytest

from esteira_model.errors import TrainingError
from esteira_model.hyperparameters import BINARY, MULTICLASS, REGRESSION, Hyperparameters


def test_strings_become_typed_values() -> None:
    # GIVEN SageMaker's all-string hyperparameters, plus keys SageMaker itself adds
    raw = {
        "num_round": "250",
        "eta": "0.05",
        "max_depth": "4",
        "drop_columns": "id, key ,",
        "target": "churned",
        "_tuning_objective_metric": "validation:auc",
        "sagemaker_job_name": "x",
    }
    # WHEN they are parsed
    params = Hyperparameters.from_mapping(raw)
    # THEN each has its type, and the rest keep their defaults
    assert params.num_round == 250
    assert params.eta == 0.05
    assert params.max_depth == 4
    assert params.drop_columns == ("id", "key")
    assert params.target == "churned"
    assert params.early_stopping_rounds == Hyperparameters().early_stopping_rounds
    assert params.task == BINARY
    assert params.effective_eval_metric == "auc"
    assert params.maximize


@pytest.mark.parametrize(
    ("objective", "task", "metric", "maximize"),
    [
        ("binary:logistic", BINARY, "auc", True),
        ("multi:softprob", MULTICLASS, "mlogloss", False),
        ("reg:squarederror", REGRESSION, "rmse", False),
    ],
)
def test_objective_sets_task_and_metric(objective: str, task: str, metric: str, maximize: bool) -> None:
    # GIVEN an objective WHEN parsed THEN the task, early-stopping metric and direction follow
    params = Hyperparameters.from_mapping({"objective": objective})
    assert (params.task, params.effective_eval_metric, params.maximize) == (task, metric, maximize)


@pytest.mark.parametrize(
    "raw",
    [
        {"num_round": "1.5"},
        {"eta": "fast"},
        {"validation_fraction": "1.5"},
        {"objective": "binary:hinge"},
        {"objective": "rank:pairwise"},
        {"drop_columns": "[1"},
        {"unknown": "1"},
    ],
)
def test_invalid_values_are_training_errors(raw: dict[str, str]) -> None:
    # GIVEN an invalid hyperparameter WHEN parsed THEN a TrainingError names the problem
    with pytest.raises(TrainingError):
        Hyperparameters.from_mapping(raw)
