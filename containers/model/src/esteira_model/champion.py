"""The champion: the model in the `champion` channel, scored on the same holdout rows as the candidate.

The channel holds the champion's model.tar.gz (as SageMaker stores it) or its extracted model files. Only the
feature schema and the XGBoost model are read from the archive, into memory; no other member is extracted, so
nothing in the archive can write outside a temporary directory. A channel with no loadable model fails the job.
A champion that cannot be scored on these rows (another task, a feature the holdout lacks, a label value it
never learned) is reported in evaluation.json with the reason instead of metrics, because a new candidate may
rightly differ from the champion it is meant to replace.
"""

from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from esteira_model.channels import CHAMPION_CHANNEL, HOLDOUT_CHANNEL
from esteira_model.data import is_numeric_column
from esteira_model.errors import ModelLoadError, TrainingError
from esteira_model.hyperparameters import Hyperparameters
from esteira_model.metrics import task_metrics
from esteira_model.predictor import Predictor
from esteira_model.prepare import labels, matrix, unseen_labels
from esteira_model.schema import MODEL_FILENAME, SCHEMA_FILENAME

_MODEL_FILES = (SCHEMA_FILENAME, MODEL_FILENAME)
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class Champion:
    predictor: Predictor
    source: str  # where in the channel the model came from


@dataclass(frozen=True)
class ChampionScore:
    metrics: dict[str, Any] | None  # None when the champion cannot be scored on these rows
    reason: str  # why not, or ""


def _visible_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(s.startswith((".", "_")) for s in p.relative_to(root).parts)
    )


def _extract_model_files(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in _MODEL_FILES and not (into / name).exists():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        (into / name).write_bytes(handle.read())
    except (OSError, tarfile.TarError) as err:
        raise TrainingError(f"The {CHAMPION_CHANNEL!r} channel's archive {archive} cannot be read: {err}.") from err


def _load(model_dir: Path, where: Path) -> Predictor:
    try:
        return Predictor.load(model_dir, nthread=0)
    except ModelLoadError as err:
        raise TrainingError(f"The champion model in {where} cannot be loaded: {err}") from err


def load_champion(root: Path) -> Champion:
    if not root.is_dir():
        raise TrainingError(f"The {CHAMPION_CHANNEL!r} channel is missing: expected a directory at {root}.")
    files = _visible_files(root)
    schemas = [p for p in files if p.name == SCHEMA_FILENAME]
    archives = [p for p in files if p.name.endswith(_ARCHIVE_SUFFIXES)]
    if schemas:
        model_dir = schemas[0].parent
        return Champion(_load(model_dir, model_dir), str(model_dir.relative_to(root)) or ".")
    if len(archives) == 1:
        with tempfile.TemporaryDirectory(prefix="esteira-champion-") as tmp:
            _extract_model_files(archives[0], Path(tmp))
            return Champion(_load(Path(tmp), archives[0]), archives[0].relative_to(root).as_posix())
    if archives:
        names = [p.relative_to(root).as_posix() for p in archives]
        raise TrainingError(f"The {CHAMPION_CHANNEL!r} channel at {root} holds several archives {names}; give one.")
    raise TrainingError(
        f"The {CHAMPION_CHANNEL!r} channel at {root} holds neither a model.tar.gz nor the model files "
        f"({SCHEMA_FILENAME}, {MODEL_FILENAME})."
    )


def score_champion(champion: Champion, frame: pd.DataFrame, params: Hyperparameters) -> ChampionScore:
    """The champion's metrics on the holdout rows, with its own features, classes and threshold."""
    schema = champion.predictor.schema
    if schema.task != params.task:
        return ChampionScore(None, f"the champion is a {schema.task} model and the candidate a {params.task} model")
    names = list(schema.names)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        return ChampionScore(None, f"the holdout data lacks the champion's feature columns {missing[:20]}")
    bad = [n for n in names if not is_numeric_column(frame[n])]
    if bad:
        return ChampionScore(None, f"the champion's feature columns {bad[:20]} are not numeric in the holdout data")
    values = labels(frame, params.target, HOLDOUT_CHANNEL)
    if schema.classes:
        classes = np.array(schema.classes)
        unseen = unseen_labels(values, classes)
        if unseen:
            return ChampionScore(None, f"the holdout data has label values {unseen} that the champion never learned")
        values = np.searchsorted(classes, values).astype(np.float64)
    features = matrix(frame, names, HOLDOUT_CHANNEL)
    scores = champion.predictor.booster.inplace_predict(features, validate_features=False)
    return ChampionScore(task_metrics(schema.task, values, scores, schema.threshold), "")
