"""Checks of the spec against the config before anything starts (no Spark, no servers): each error names its key."""

from __future__ import annotations

from pathlib import Path

from esteira_contracts.tasks import REGRESSION, task_of_objective
from esteira_dataset.spec import NUMERIC_TYPES, DatasetSpec, DatasetSpecError, load_dataset_spec
from stacks.config import EnvironmentConfig


def _fix_feature() -> str:
    """The training container's own advice for a non-numeric feature (so the local run and SageMaker's `train` say the
    same), plus where the key lives here. Imported for the message only: esteira_model.columns imports pandas, which
    took ~0.25 s at the start of every run."""
    from esteira_model.columns import NON_NUMERIC_FIX

    return f"{NON_NUMERIC_FIX} In the config: training.hyperparameters.drop_columns."


class PreflightError(ValueError):
    """The spec and the config cannot train a model together; the message names every key to fix."""


def hyperparameter_list(config: EnvironmentConfig, key: str) -> tuple[str, ...]:
    raw = config.training.hyperparameters.get(key, "")
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


def check_spec(spec_path: Path, config: EnvironmentConfig) -> DatasetSpec:
    """The spec loads, its label is the config's target and fits the objective, every feature is numeric."""
    if not spec_path.is_file():
        raise PreflightError(f"spec {spec_path}: no such file (--spec, or the config's extraction.spec)")
    try:
        spec = load_dataset_spec(str(spec_path.resolve()))
    except DatasetSpecError as error:
        raise PreflightError(f"spec {spec_path}: {error}") from None
    params = config.training.hyperparameters
    label = spec.label
    problems: list[str] = []
    target = str(params.get("target", ""))
    if target != label:
        problems.append(
            f"training.hyperparameters.target is {target!r} but the spec's label column (spec.label.column) is "
            f"{label!r}: set target to {label!r}"
        )
    types = {c.name: c.type for c in spec.extraction.output_columns}
    objective = str(params.get("objective", "binary:logistic"))
    if types.get(label) not in NUMERIC_TYPES:
        task = task_of_objective(objective)
        need = "real values" if task == REGRESSION else "class numbers (0/1 binary, 0..k-1 multiclass)"
        problems.append(
            f"spec.label.column {label!r} has type {types.get(label)!r} in spec.output_columns, but objective "
            f"{objective!r} (training.hyperparameters.objective) needs a numeric label: {need}; encode it with "
            "spec.label.expression"
        )
    drop = hyperparameter_list(config, "drop_columns")
    unknown = [c for c in drop if c not in types]
    if unknown:
        problems.append(f"training.hyperparameters.drop_columns: {unknown} are not among spec.output_columns")
    for name in spec.features(drop):
        if types[name] not in NUMERIC_TYPES:
            problems.append(f"feature column {name!r} is {types[name]!r}, not numeric. {_fix_feature()}")
    if spec.key not in drop:
        problems.append(
            f"training.hyperparameters.drop_columns must list the primary key {spec.key!r}: the model must not "
            "train on it"
        )
    if problems:
        raise PreflightError(f"spec {spec_path} with config {config.name}:\n  - " + "\n  - ".join(problems))
    return spec
