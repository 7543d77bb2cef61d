"""``train`` leaves ``smoke/holdout.csv`` in the model directory: validation rows for the CD smoke test.

The file travels in model.tar.gz with the model; ``python -m pipeline.smoke`` sends its rows to the endpoint.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from esteira_model import codecs
from esteira_model.hyperparameters import Hyperparameters
from esteira_model.predictor import Predictor
from esteira_model.prepare import split_frame
from esteira_model.schema import EVALUATION_FILENAME, SCHEMA_FILENAME
from esteira_model.train import SMOKE_HOLDOUT
from pipeline.serving import ServeClient, smoke_test
from tests.containers.model.conftest import Server, TrainedTask
from tests.containers.model.helpers import FEATURES, FIXTURES, TRAIN_BIN, MLRoot, make_frame, run_bin


def read_holdout(model_dir: Path) -> tuple[list[str], list[list[str]]]:
    with (model_dir / SMOKE_HOLDOUT).open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def as_floats(rows: list[list[str]]) -> np.ndarray:
    """Rows of the file as ``serve`` reads them: an empty field is a missing value."""
    return np.array([[float(v) if v else np.nan for v in row] for row in rows], dtype=np.float64)


def train_on_fixture(ml_root: MLRoot, **extra: str) -> None:
    (ml_root.channel("train") / "train.csv").write_bytes((FIXTURES / "train.csv").read_bytes())
    (ml_root.channel("validation") / "validation.csv").write_bytes((FIXTURES / "validation.csv").read_bytes())
    ml_root.write_hyperparameters({"drop_columns": "customer_id", "num_round": "20", **extra})
    result = run_bin(TRAIN_BIN, ml_root.root)
    assert result.returncode == 0, result.stderr


def test_holdout_is_a_seeded_sample_of_the_validation_channel_in_serving_order(ml_root: MLRoot) -> None:
    # GIVEN CSV train and validation channels (100 validation rows) and smoke_rows below that
    # WHEN train runs
    train_on_fixture(ml_root, smoke_rows="40")
    # THEN smoke/holdout.csv holds the label column, then the features in the schema's order
    header, rows = read_holdout(ml_root.model_dir)
    schema = json.loads((ml_root.model_dir / SCHEMA_FILENAME).read_text())
    assert header == [schema["target"], *(f["name"] for f in schema["features"])] == ["label", *FEATURES]
    # AND exactly smoke_rows rows, each a validation row (booleans as 0/1, labels as serve spells them)
    assert len(rows) == 40
    validation = pd.read_csv(FIXTURES / "validation.csv")
    expected = validation[["label", *FEATURES]].to_numpy(dtype=np.float64)
    got = as_floats(rows)
    matches = [np.flatnonzero((expected == row).all(axis=1)) for row in got]
    assert all(len(found) == 1 for found in matches)
    # AND in validation order, distinct, and never a training row
    positions = [int(found[0]) for found in matches]
    assert positions == sorted(set(positions))
    train = pd.read_csv(FIXTURES / "train.csv")[list(FEATURES)].to_numpy(dtype=np.float64)
    assert not any((train == row).all(axis=1).any() for row in got[:, 1:])
    assert {row[0] for row in rows} <= set(Predictor.load(ml_root.model_dir).class_label_text)
    # AND a second run with the same seed writes the same bytes; another seed, another sample
    first = (ml_root.model_dir / SMOKE_HOLDOUT).read_bytes()
    assert run_bin(TRAIN_BIN, ml_root.root).returncode == 0
    assert (ml_root.model_dir / SMOKE_HOLDOUT).read_bytes() == first
    ml_root.write_hyperparameters({"drop_columns": "customer_id", "num_round": "20", "smoke_rows": "40", "seed": "7"})
    assert run_bin(TRAIN_BIN, ml_root.root).returncode == 0
    assert (ml_root.model_dir / SMOKE_HOLDOUT).read_bytes() != first


def test_random_split_holdout_is_the_whole_validation_split(trained_root: MLRoot) -> None:
    # GIVEN the shared model, trained with no validation channel (train split off a seeded 20%)
    frame = pd.concat(
        [pd.read_parquet(p) for p in sorted((trained_root.root / "input" / "data" / "train").rglob("*.parquet"))],
        ignore_index=True,
    )
    evaluation = json.loads((trained_root.model_dir / EVALUATION_FILENAME).read_text())
    # WHEN its holdout is read
    _, rows = read_holdout(trained_root.model_dir)
    # THEN it is every validation row (fewer than the default smoke_rows), none of the rows trained on
    _, valid = split_frame(frame, Hyperparameters())
    assert len(rows) == evaluation["rows"]["validation"] == len(valid) < Hyperparameters().smoke_rows
    np.testing.assert_array_equal(as_floats(rows), valid[["label", *FEATURES]].to_numpy(dtype=np.float64))


def test_served_holdout_matches_as_often_as_validation_accuracy(server: Server, trained_root: MLRoot) -> None:
    # GIVEN the real server (each server type) loading a model directory that holds smoke/
    assert (trained_root.model_dir / SMOKE_HOLDOUT).is_file()
    _, rows = read_holdout(trained_root.model_dir)
    evaluation = json.loads((trained_root.model_dir / EVALUATION_FILENAME).read_text())
    # WHEN the rows go to /invocations as headerless CSV through the pipeline's smoke test
    client = ServeClient(server.port, timeout=30)
    try:
        result = smoke_test(client, [",".join(r[1:]) for r in rows], [float(r[0]) for r in rows], rows_per_request=64)
    finally:
        client.close()
    # THEN every row is predicted and the match rate is the validation accuracy train reported
    assert result.rows == len(rows) and result.requests == -(-len(rows) // 64)
    assert result.match_rate == pytest.approx(evaluation["validation"]["accuracy"], abs=1e-6)
    assert result.match_rate > 0.8


def test_multiclass_labels_are_spelled_as_serve_predicts_them(trained_task: Callable[[str], TrainedTask]) -> None:
    # GIVEN a multiclass model (labels 0, 1, 2; make_frame(600, seed=3), multi:softprob, shared)
    ml_root = trained_task("multiclass").root
    _, rows = read_holdout(ml_root.model_dir)
    predictor = Predictor.load(ml_root.model_dir)
    # WHEN the rows go through serve's own CSV parser, predictor and formatter
    body = "".join(",".join(r[1:]) + "\n" for r in rows).encode()
    predictions = predictor.predict(codecs.parse_csv(body, predictor.num_features))
    predicted = [line.split(",")[0] for line in codecs.format_csv(predictions, predictor).decode().splitlines()]
    # THEN the file's labels are the predicted labels' text, and they agree as often as the reported accuracy
    assert {r[0] for r in rows} == {"0", "1", "2"}
    accuracy = json.loads((ml_root.model_dir / EVALUATION_FILENAME).read_text())["validation"]["accuracy"]
    agreed = sum(p == r[0] for p, r in zip(predicted, rows, strict=True))
    assert agreed / len(rows) == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.parametrize(
    ("hyperparameters", "task"),
    [({"smoke_rows": "0"}, "binary"), ({"objective": "reg:squarederror"}, "regression")],
)
def test_no_holdout_when_disabled_or_for_regression(
    ml_root: MLRoot, hyperparameters: dict[str, str], task: str
) -> None:
    # GIVEN smoke_rows=0, or a regression model (a predicted value never equals the true one exactly)
    ml_root.write_parquet_tree("train", make_frame(300, seed=5, task=task))
    ml_root.write_hyperparameters({"drop_columns": "customer_id", "num_round": "5", **hyperparameters})
    # WHEN train runs THEN it succeeds, writes no smoke/ and says so
    result = run_bin(TRAIN_BIN, ml_root.root)
    assert result.returncode == 0, result.stderr
    assert not (ml_root.model_dir / "smoke").exists()
    assert "No smoke test rows written" in result.stdout
