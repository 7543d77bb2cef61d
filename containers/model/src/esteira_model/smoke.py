"""`smoke/holdout.csv`: validation rows that travel in model.tar.gz for the CD smoke test (pipeline/smoke.py).

They are validation rows, never trained on. Rows of the `holdout` channel never go there: the holdout is kept out
of model.tar.gz so that a later comparison on it stays fair.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from esteira_model.console import log
from esteira_model.hyperparameters import REGRESSION, Hyperparameters
from esteira_model.prepare import PreparedData

# Held-out rows that travel with the model (model.tar.gz) for the CD smoke test (pipeline/smoke.py reads them).
SMOKE_HOLDOUT = Path("smoke") / "holdout.csv"


def _csv_number(value: float) -> str:
    """A feature as ``serve`` parses it: empty for missing, integers without a fraction, floats round-tripping."""
    if math.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _label_text(value: float) -> str:
    """A class label as ``serve`` returns it (``Predictor.class_label_text``): ``1``, not ``1.0``."""
    return str(int(value)) if value.is_integer() and math.isfinite(value) else str(value)


def write_smoke_holdout(model_dir: Path, data: PreparedData, params: Hyperparameters) -> int:
    """Up to ``smoke_rows`` validation rows (never trained on) as ``smoke/holdout.csv``; returns the row count.

    Header ``<target>,<features in schema order>``; each row is the true label as ``serve`` spells a predicted
    label (the first field of its CSV output), then the features exactly as a headerless ``text/csv`` request
    carries them. Rows are a seeded sample, in validation order. Regression writes nothing: a predicted value
    never equals the true one exactly, so a match rate means nothing there.
    """
    path = model_dir / SMOKE_HOLDOUT
    path.unlink(missing_ok=True)
    if params.smoke_rows == 0:
        log("No smoke test rows written (smoke_rows is 0)")
        return 0
    if params.task == REGRESSION:
        log(f"No smoke test rows written: {SMOKE_HOLDOUT} holds classification labels only")
        return 0
    total = len(data.validation.labels)
    index = np.arange(total)
    if total > params.smoke_rows:
        index = np.sort(np.random.default_rng(params.seed).choice(total, size=params.smoke_rows, replace=False))
    labels = [_label_text(data.classes[int(i)]) for i in data.validation.labels[index].tolist()]
    features = data.validation.features[index].tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([params.target, *data.names])
        for label, row in zip(labels, features, strict=True):
            writer.writerow([label, *map(_csv_number, row)])
    log(f"Wrote {len(index)} of {total} validation rows to {SMOKE_HOLDOUT} for the smoke test")
    return len(index)
