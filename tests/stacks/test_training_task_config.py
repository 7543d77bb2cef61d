"""GIVEN a training config WHEN its gate metric does not fit its objective's task THEN synth fails naming the key."""

from pathlib import Path

import pytest
import yaml

from stacks.config import CONFIG_DIR, ConfigError, load_config
from stacks.config_base import parse_yaml


def write_dev(tmp_path: Path, hyperparameters: dict[str, object], gate_metric: str) -> Path:
    data = parse_yaml((CONFIG_DIR / "dev.yaml").read_text())
    data["training"]["hyperparameters"].update(hyperparameters)
    data["training"]["gate"]["metric"] = gate_metric
    if not str(hyperparameters.get("objective", "binary:")).startswith("binary:"):
        # Clarify's analysis is for binary classification only (tests/stacks/test_bias_config.py).
        data["training"]["bias"]["enabled"] = False
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


@pytest.mark.parametrize(
    ("objective", "metric", "task", "allowed"),
    [
        ("reg:squarederror", "auc", "regression", "r2, rmse, mae"),
        ("multi:softprob", "rmse", "multiclass", "auc, accuracy, f1, precision, recall"),
        ("binary:logistic", "r2", "binary", "auc, accuracy, f1, precision, recall"),
    ],
)
def test_a_gate_metric_the_task_has_not_is_refused_naming_the_key(
    tmp_path: Path, objective: str, metric: str, task: str, allowed: str
) -> None:
    # GIVEN a config whose gate compares a metric `train` does not compute for the objective
    folder = write_dev(tmp_path, {"objective": objective}, metric)
    # WHEN it is loaded (as synth does) THEN the error names the gate key, the objective and the valid metrics
    with pytest.raises(ConfigError) as caught:
        load_config("dev", folder)
    message = str(caught.value)
    assert f"training.gate.metric '{metric}' does not fit training.hyperparameters.objective '{objective}'" in message
    assert f"a {task} task" in message and allowed in message


@pytest.mark.parametrize(
    ("objective", "metric"),
    [("reg:squarederror", "r2"), ("reg:squarederror", "rmse"), ("multi:softprob", "accuracy"), (None, "auc")],
)
def test_a_gate_metric_of_the_task_loads(tmp_path: Path, objective: str | None, metric: str) -> None:
    hyperparameters: dict[str, object] = {"objective": objective} if objective else {}
    config = load_config("dev", write_dev(tmp_path, hyperparameters, metric))
    assert config.training.gate.metric == metric
