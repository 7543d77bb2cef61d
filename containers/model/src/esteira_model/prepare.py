"""Data preparation: the label, the features, the validation set, and the holdout, as float matrices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from esteira_model.channels import HOLDOUT_CHANNEL, TRAIN_CHANNEL, VALIDATION_CHANNEL
from esteira_model.columns import check_label_and_id, feature_columns, require_features
from esteira_model.data import feature_type, to_float_matrix
from esteira_model.errors import TrainingError
from esteira_model.hyperparameters import BINARY, MULTICLASS, Hyperparameters


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    labels: np.ndarray  # class indices for classification, values for regression


@dataclass(frozen=True)
class PreparedData:
    train: Dataset
    validation: Dataset
    names: tuple[str, ...]
    types: tuple[str, ...]
    classes: tuple[float, ...]
    validation_source: str


def split_frame(frame: pd.DataFrame, params: Hyperparameters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random `validation_fraction` of the rows; only used without a validation channel."""
    if len(frame) < 2:
        raise TrainingError(
            f"The train channel has {len(frame)} row(s); at least 2 are needed to split off validation "
            "data. Provide more rows or a validation channel."
        )
    rng = np.random.default_rng(params.seed)
    order = rng.permutation(len(frame))
    n_valid = min(max(1, round(len(frame) * params.validation_fraction)), len(frame) - 1)
    return frame.iloc[np.sort(order[n_valid:])], frame.iloc[np.sort(order[:n_valid])]


def labels(frame: pd.DataFrame, target: str, channel: str) -> np.ndarray:
    column = frame[target]
    if pd.api.types.is_bool_dtype(column.dtype):
        column = column.astype("int64")
    if not pd.api.types.is_numeric_dtype(column.dtype):
        sample = [str(v) for v in column.dropna().unique()[:3]]
        raise TrainingError(
            f"The label column {target!r} in the {channel} data is not numeric (dtype {column.dtype}, "
            f"values such as {sample}). Encode labels as numbers: 0/1 for binary classification, "
            "0..k-1 for multiclass, real values for regression."
        )
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = int(np.count_nonzero(~np.isfinite(values)))
    if missing:
        raise TrainingError(
            f"The label column {target!r} in the {channel} data has {missing} missing or infinite value(s); "
            "drop or fill those rows before training."
        )
    return values


def unseen_labels(values: np.ndarray, classes: np.ndarray) -> list[float]:
    """Label values that are none of the classes."""
    return [float(v) for v in np.setdiff1d(np.unique(values), classes)[:10]]


def _encode_classes(
    train_y: np.ndarray, valid_y: np.ndarray, params: Hyperparameters
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    if params.task not in (BINARY, MULTICLASS):
        return train_y, valid_y, ()
    classes = np.unique(train_y)
    if params.task == BINARY and len(classes) != 2:
        raise TrainingError(
            f"Binary classification needs exactly 2 label values in the train data; found {len(classes)} "
            f"({classes[:10].tolist()}). Use objective multi:softprob for more classes."
        )
    if params.task == MULTICLASS:
        if len(classes) < 2:
            raise TrainingError("Multiclass classification needs at least 2 label values in the train data.")
        if params.num_class and params.num_class != len(classes):
            raise TrainingError(f"num_class is {params.num_class} but the train data has {len(classes)} label values.")
    unseen = unseen_labels(valid_y, classes)
    if unseen:
        raise TrainingError(f"The validation data has label values {unseen} that the train data lacks.")
    return (
        np.searchsorted(classes, train_y).astype(np.float64),
        np.searchsorted(classes, valid_y).astype(np.float64),
        tuple(float(c) for c in classes),
    )


def matrix(frame: pd.DataFrame, names: list[str], channel: str) -> np.ndarray:
    features = to_float_matrix(frame[names])
    infinite = np.isinf(features).any(axis=0)
    if infinite.any():
        cols = [n for n, bad in zip(names, infinite, strict=True) if bad]
        raise TrainingError(f"Feature columns {cols[:20]} in the {channel} data hold infinite values.")
    return features


def prepare(train_frame: pd.DataFrame, valid_frame: pd.DataFrame | None, params: Hyperparameters) -> PreparedData:
    check_label_and_id(train_frame, params, TRAIN_CHANNEL)
    names = feature_columns(train_frame, params, TRAIN_CHANNEL)
    source = VALIDATION_CHANNEL
    if valid_frame is None:
        train_frame, valid_frame = split_frame(train_frame, params)
        source = f"random split ({params.validation_fraction:g}, seed {params.seed})"
    else:
        check_label_and_id(valid_frame, params, VALIDATION_CHANNEL)
        require_features(valid_frame, names, VALIDATION_CHANNEL)
    train_y = labels(train_frame, params.target, TRAIN_CHANNEL)
    valid_y = labels(valid_frame, params.target, VALIDATION_CHANNEL)
    train_y, valid_y, classes = _encode_classes(train_y, valid_y, params)
    return PreparedData(
        train=Dataset(matrix(train_frame, names, TRAIN_CHANNEL), train_y),
        validation=Dataset(matrix(valid_frame, names, VALIDATION_CHANNEL), valid_y),
        names=tuple(names),
        types=tuple(feature_type(train_frame[n]) for n in names),
        classes=classes,
        validation_source=source,
    )


def prepare_holdout(frame: pd.DataFrame, data: PreparedData, params: Hyperparameters) -> Dataset:
    """The holdout channel in the candidate's features and class indices; scored only, never trained on."""
    check_label_and_id(frame, params, HOLDOUT_CHANNEL)
    names = list(data.names)
    require_features(frame, names, HOLDOUT_CHANNEL)
    values = labels(frame, params.target, HOLDOUT_CHANNEL)
    if data.classes:
        classes = np.array(data.classes)
        unseen = unseen_labels(values, classes)
        if unseen:
            raise TrainingError(f"The holdout data has label values {unseen} that the train data lacks.")
        values = np.searchsorted(classes, values).astype(np.float64)
    return Dataset(matrix(frame, names, HOLDOUT_CHANNEL), values)
