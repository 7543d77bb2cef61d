"""Which columns are features, and the errors that name a column that cannot be one."""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from esteira_model.data import NON_FEATURE_COLUMNS, is_numeric_column
from esteira_model.errors import TrainingError
from esteira_model.hyperparameters import Hyperparameters

_LISTED = 20  # columns named in one message at most

# How to fix a text, date or other non-numeric feature column: the same advice wherever train meets one.
NON_NUMERIC_FIX = (
    "The default model takes numeric and boolean features only. Either drop each such column by listing it in the "
    "'drop_columns' hyperparameter (a key column may be named in 'id_column' instead), or encode it as a number "
    "with a rule of the extraction spec (binary_map, map_values, flag or derive) and drop the original."
)


def non_feature_columns(params: Hyperparameters) -> set[str]:
    """The label, the id column, the dropped columns and the partition column: never features."""
    excluded = set(params.drop_columns) | NON_FEATURE_COLUMNS | {params.target}
    if params.id_column:
        excluded.add(params.id_column)
    return excluded


def check_label_and_id(frame: pd.DataFrame, params: Hyperparameters, channel: str) -> None:
    if params.target not in frame.columns:
        raise TrainingError(
            f"The {channel} data has no label column {params.target!r} (hyperparameter 'target'); "
            f"its columns are {list(map(str, frame.columns))[:50]}."
        )
    if params.id_column and params.id_column not in frame.columns:
        raise TrainingError(
            f"The {channel} data has no id column {params.id_column!r} (hyperparameter 'id_column'); "
            f"its columns are {list(map(str, frame.columns))[:50]}. Leave 'id_column' empty when the data has no key."
        )


def _describe(series: pd.Series, name: str) -> str:
    sample = [str(v) for v in series.dropna().unique()[:3]]
    return f"{name!r} (dtype {series.dtype}, values such as {sample})"


def non_numeric_message(frame: pd.DataFrame, bad: list[str], channel: str) -> str:
    described = ", ".join(_describe(frame[name], name) for name in bad[:_LISTED])
    more = f" and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
    if len(bad) == 1:
        head = f"Feature column {bad[0]!r} in the {channel} data is not numeric: {described}."
    else:
        head = f"Feature columns {bad[:_LISTED]}{more} in the {channel} data are not numeric: {described}{more}."
    return f"{head} {NON_NUMERIC_FIX}"


def require_numeric(frame: pd.DataFrame, names: list[str], channel: str) -> None:
    bad = [name for name in names if not is_numeric_column(frame[name])]
    if bad:
        raise TrainingError(non_numeric_message(frame, bad, channel))


def feature_columns(frame: pd.DataFrame, params: Hyperparameters, channel: str) -> list[str]:
    """Every column of the train data that is not excluded, in order; each must be numeric or boolean."""
    excluded = non_feature_columns(params)
    names = [str(c) for c in frame.columns if str(c) not in excluded]
    if not names:
        raise TrainingError("No feature columns are left after removing the label, id and dropped columns.")
    require_numeric(frame, names, channel)
    return names


def require_features(frame: pd.DataFrame, names: list[str], channel: str) -> None:
    """Another channel carries every feature of the train data, numeric too."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise TrainingError(f"The {channel} data lacks feature columns {missing[:_LISTED]} that the train data has.")
    require_numeric(frame, names, channel)


def check_disjoint_keys(frames: dict[str, pd.DataFrame], params: Hyperparameters) -> None:
    """No key of `id_column` is in two channels: a key seen in training would make validation or holdout optimistic."""
    if not params.id_column:
        return
    keys = {name: set(frame[params.id_column].dropna().unique().tolist()) for name, frame in frames.items()}
    for first, second in combinations(keys, 2):
        shared = keys[first] & keys[second]
        if shared:
            examples = sorted(map(str, shared))[:5]
            raise TrainingError(
                f"{len(shared)} key(s) of the id column {params.id_column!r} are in both the {first} and the {second} "
                f"data (e.g. {examples}). Each key must belong to one split only; split the data by key."
            )
