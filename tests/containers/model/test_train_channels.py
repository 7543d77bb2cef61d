"""bin/train with the dataset step's channels: validation (no random split), an id column, holdout and champion."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from esteira_model.metrics import classification_metrics
from esteira_model.predictor import Predictor
from esteira_model.schema import EVALUATION_FILENAME, MODEL_FILENAME, SCHEMA_FILENAME
from tests.containers.model.helpers import FEATURES, TRAIN_BIN, MLRoot, make_frame, run_bin, run_train_in_process

ID = "employee_id"
BASE = {"target": "label", "drop_columns": "customer_id", "num_round": "25"}


def keyed_splits(rows: int = 1500, seed: int = 11) -> dict[str, pd.DataFrame]:
    """Train, validation and holdout rows of one frame, each row with a text primary key, no key in two splits."""
    frame = make_frame(rows, seed=seed)
    frame.insert(0, ID, [f"E{i:05d}" for i in range(rows)])
    cut1, cut2 = int(rows * 0.6), int(rows * 0.8)
    return {
        "train": frame.iloc[:cut1].reset_index(drop=True),
        "validation": frame.iloc[cut1:cut2].reset_index(drop=True),
        "holdout": frame.iloc[cut2:].reset_index(drop=True),
    }


def write_channels(root: MLRoot, frames: dict[str, pd.DataFrame], params: dict[str, str]) -> None:
    for channel, frame in frames.items():
        root.write_parquet_tree(channel, frame, parts=2)
    root.write_hyperparameters(params)


def train_ok(root: MLRoot) -> dict[str, Any]:
    result = run_train_in_process(root.root)
    assert result.returncode == 0, result.stderr
    evaluation: dict[str, Any] = json.loads((root.model_dir / EVALUATION_FILENAME).read_text())
    return evaluation


def holdout_metrics(model_dir: Path, holdout: pd.DataFrame) -> dict[str, Any]:
    """What a model scores on the holdout rows, computed here from the model directory alone."""
    predictor = Predictor.load(model_dir)
    features = holdout[list(predictor.schema.names)].to_numpy(dtype=np.float64)
    scores = predictor.booster.inplace_predict(features, validate_features=False)
    y_true = np.searchsorted(np.array(predictor.schema.classes), holdout["label"].to_numpy(dtype=np.float64))
    return classification_metrics(y_true, scores, predictor.schema.threshold)


def make_tarball(model_dir: Path, archive: Path) -> None:
    """model.tar.gz as SageMaker packs /opt/ml/model: the directory's files at the archive's top level."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)


@pytest.fixture(scope="module")
def champion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weaker champion (3 rounds) trained on other rows of the same population."""
    root = MLRoot(tmp_path_factory.mktemp("champion") / "ml")
    root.write_parquet_tree("train", make_frame(800, seed=21))
    root.write_hyperparameters({**BASE, "num_round": "3", "early_stopping_rounds": "0"})
    train_ok(root)
    return root.model_dir


def test_validation_channel_replaces_the_random_split_whatever_the_seed(tmp_path: Path) -> None:
    # GIVEN train and validation channels, and two jobs that differ only by their seed
    frames = keyed_splits()
    del frames["holdout"]
    evaluations, random_sources = [], []
    for seed in ("1", "2"):
        root = MLRoot(tmp_path / f"seed{seed}")
        write_channels(root, frames, {**BASE, "id_column": ID, "seed": seed})
        # WHEN train runs
        evaluations.append(train_ok(root))
        # (control: without the validation channel the seed draws another split)
        unsplit = MLRoot(tmp_path / f"random{seed}")
        write_channels(unsplit, {"train": frames["train"]}, {**BASE, "id_column": ID, "seed": seed})
        random_sources.append(train_ok(unsplit)["validation_source"])
    # THEN both validate on exactly the validation channel's rows and train on exactly the train channel's rows
    for evaluation in evaluations:
        assert evaluation["validation_source"] == "validation"
        assert evaluation["rows"] == {"train": 900, "validation": 300, "total": 1200}
        assert np.array(evaluation["validation"]["confusion_matrix"]).sum() == 300
    # AND the seed changes nothing: same metrics, same confusion matrix
    assert evaluations[0]["validation"] == evaluations[1]["validation"]
    assert evaluations[0]["best_iteration"] == evaluations[1]["best_iteration"]
    assert random_sources == ["random split (0.2, seed 1)", "random split (0.2, seed 2)"]


def test_id_column_is_kept_out_of_the_features(ml_root: MLRoot) -> None:
    # GIVEN channels that carry a text primary key, named by id_column (and not in drop_columns)
    frames = keyed_splits()
    del frames["holdout"]
    write_channels(ml_root, frames, {**BASE, "id_column": ID})
    # WHEN train runs
    train_ok(ml_root)
    # THEN the key is no feature: the schema lists the six features only
    schema = json.loads((ml_root.model_dir / SCHEMA_FILENAME).read_text())
    assert [f["name"] for f in schema["features"]] == list(FEATURES)


def test_a_key_in_two_channels_fails_naming_the_id_column(ml_root: MLRoot) -> None:
    # GIVEN a validation channel that repeats 7 keys of the train channel
    frames = keyed_splits()
    del frames["holdout"]
    frames["validation"].loc[:6, ID] = frames["train"].loc[:6, ID].to_numpy()
    write_channels(ml_root, frames, {**BASE, "id_column": ID})
    # WHEN train runs
    result = run_train_in_process(ml_root.root)
    # THEN it fails before training, naming the id column, the channels and the count
    assert result.returncode == 1
    reason = ml_root.failure.read_text()
    assert f"7 key(s) of the id column '{ID}' are in both the train and the validation data" in reason
    assert not (ml_root.model_dir / MODEL_FILENAME).exists()


@pytest.mark.parametrize("packed", ["model.tar.gz", "extracted files"])
def test_holdout_scores_candidate_and_champion_on_the_same_rows(
    ml_root: MLRoot, champion_dir: Path, packed: str
) -> None:
    # GIVEN train, validation and holdout channels, and the champion's model as SageMaker stores it (or extracted)
    frames = keyed_splits()
    write_channels(ml_root, frames, {**BASE, "id_column": ID})
    champion_channel = ml_root.channel("champion")
    if packed == "model.tar.gz":
        make_tarball(champion_dir, champion_channel / "model.tar.gz")
    else:
        for name in (MODEL_FILENAME, SCHEMA_FILENAME):
            (champion_channel / name).write_bytes((champion_dir / name).read_bytes())
    # WHEN train runs
    evaluation = train_ok(ml_root)
    # THEN evaluation.json holds the candidate's metrics on the holdout rows, computed on all of them
    holdout = frames["holdout"]
    assert evaluation["rows"]["holdout"] == len(holdout) == 300
    assert evaluation["rows"]["train"] == 900  # the holdout is never trained on
    assert evaluation["holdout_source"] == "holdout"
    candidate = holdout_metrics(ml_root.model_dir, holdout)
    assert evaluation["holdout"]["auc"] == pytest.approx(candidate["auc"])
    assert evaluation["holdout"]["confusion_matrix"] == candidate["confusion_matrix"]
    # AND the champion's metrics on the very same rows, with the champion's own model
    champion = holdout_metrics(champion_dir, holdout)
    assert evaluation["champion_holdout"]["auc"] == pytest.approx(champion["auc"])
    assert evaluation["champion_holdout"]["confusion_matrix"] == champion["confusion_matrix"]
    assert np.array(evaluation["champion_holdout"]["confusion_matrix"]).sum() == 300
    assert evaluation["champion_model"]["comparable"] is True
    assert evaluation["champion_model"]["reason"] == ""
    # AND the two differ (3 rounds against up to 25): the comparison is not one model scored twice
    assert evaluation["holdout"]["auc"] != evaluation["champion_holdout"]["auc"]
    # AND the same numbers are in output/data/evaluation.json, which Evaluate reads
    output = json.loads((ml_root.root / "output" / "data" / EVALUATION_FILENAME).read_text())
    assert output["holdout"] == evaluation["holdout"]
    assert output["champion_holdout"] == evaluation["champion_holdout"]


def test_holdout_rows_never_enter_the_model_directory(ml_root: MLRoot) -> None:
    # GIVEN a holdout channel whose feature values are unmistakable
    frames = keyed_splits()
    holdout = frames["holdout"]
    holdout["f0"] = np.round(holdout["f0"], 3) + 1234.000123
    write_channels(ml_root, frames, {**BASE, "id_column": ID})
    # WHEN train runs and its model directory is packed as model.tar.gz
    train_ok(ml_root)
    archive = ml_root.root / "model.tar.gz"
    make_tarball(ml_root.model_dir, archive)
    # THEN the archive holds the model, schema and evaluation only: no data rows (no CSV, Parquet or JSONL member)
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
        texts = {name: handle.read() for name, handle in members.items() if handle is not None}
    assert sorted(texts) == sorted([MODEL_FILENAME, SCHEMA_FILENAME, EVALUATION_FILENAME])
    assert not [name for name in texts if name.endswith((".csv", ".parquet", ".jsonl"))]
    # AND no holdout, validation or train key or feature value is in any of its text files
    for name in (SCHEMA_FILENAME, EVALUATION_FILENAME):
        text = texts[name].decode()
        for split in ("train", "validation", "holdout"):
            assert not any(key in text for key in frames[split][ID]), (name, split)
        assert not any(repr(float(v)) in text for v in holdout["f0"]), name


def test_a_champion_the_holdout_cannot_feed_is_reported_not_scored(ml_root: MLRoot, tmp_path: Path) -> None:
    # GIVEN a champion trained with a feature the holdout no longer carries
    old = MLRoot(tmp_path / "old")
    old_frame = make_frame(600, seed=31)
    old_frame["tenure"] = np.arange(600) % 7
    old.write_parquet_tree("train", old_frame)
    old.write_hyperparameters({**BASE, "num_round": "3"})
    train_ok(old)
    write_channels(ml_root, keyed_splits(), {**BASE, "id_column": ID})
    make_tarball(old.model_dir, ml_root.channel("champion") / "model.tar.gz")
    # WHEN train runs
    result = run_train_in_process(ml_root.root)
    # THEN the candidate is trained and scored, and the champion is reported with the reason, not with metrics
    assert result.returncode == 0, result.stderr
    evaluation = json.loads((ml_root.model_dir / EVALUATION_FILENAME).read_text())
    assert evaluation["holdout"]["auc"] > 0.5
    assert evaluation["champion_holdout"] is None
    assert evaluation["champion_model"]["comparable"] is False
    assert "lacks the champion's feature columns ['tenure']" in evaluation["champion_model"]["reason"]
    assert "champion: not comparable" in result.stdout


def _champion_without_holdout(root: MLRoot, champion_dir: Path) -> None:
    frames = keyed_splits()
    del frames["holdout"]
    write_channels(root, frames, {**BASE, "id_column": ID})
    make_tarball(champion_dir, root.channel("champion") / "model.tar.gz")


def _empty_champion(root: MLRoot, champion_dir: Path) -> None:
    write_channels(root, keyed_splits(), {**BASE, "id_column": ID})
    (root.channel("champion") / "notes.txt").write_text("no model here")


def _corrupt_champion(root: MLRoot, champion_dir: Path) -> None:
    write_channels(root, keyed_splits(), {**BASE, "id_column": ID})
    (root.channel("champion") / "model.tar.gz").write_bytes(b"not a tarball")


def _holdout_missing_a_feature(root: MLRoot, champion_dir: Path) -> None:
    frames = keyed_splits()
    frames["holdout"] = frames["holdout"].drop(columns=["f3"])
    write_channels(root, frames, {**BASE, "id_column": ID})


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        (_champion_without_holdout, "'champion' channel is given without a 'holdout' channel"),
        (_empty_champion, "holds neither a model.tar.gz nor the model files"),
        (_corrupt_champion, "model.tar.gz cannot be read"),
        (_holdout_missing_a_feature, "The holdout data lacks feature columns ['f3']"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_bad_holdout_or_champion_channels_fail_with_a_reason(
    ml_root: MLRoot, champion_dir: Path, arrange: Any, expected: str
) -> None:
    # GIVEN one kind of bad holdout or champion input
    arrange(ml_root, champion_dir)
    # WHEN train runs
    result = run_train_in_process(ml_root.root)
    # THEN it fails with the reason, before writing a model
    assert result.returncode == 1, result.stdout
    assert expected in ml_root.failure.read_text()
    assert not (ml_root.model_dir / MODEL_FILENAME).exists()


@pytest.mark.parametrize("channel", ["train", "validation", "holdout"])
def test_a_text_feature_column_fails_naming_it_and_the_fix(ml_root: MLRoot, channel: str) -> None:
    # GIVEN a text column in one channel (a department name nobody encoded)
    frames = keyed_splits()
    for name, frame in frames.items():
        frame["departamento"] = 1.0 if name != channel else "financeiro"
    write_channels(ml_root, frames, {**BASE, "id_column": ID})
    # WHEN train runs (in its own process once: the console a failed job leaves is what this test reads)
    result = run_bin(TRAIN_BIN, ml_root.root) if channel == "train" else run_train_in_process(ml_root.root)
    # THEN it exits 1, and the failure file and stderr name the column, the channel and both fixes
    assert result.returncode == 1
    reason = ml_root.failure.read_text()
    assert f"Feature column 'departamento' in the {channel} data is not numeric" in reason
    assert "values such as ['financeiro']" in reason
    assert "'drop_columns' hyperparameter" in reason
    assert "rule of the extraction spec" in reason
    assert reason.strip() in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (ml_root.model_dir / MODEL_FILENAME).exists()
