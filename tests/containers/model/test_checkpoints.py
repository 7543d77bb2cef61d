"""Managed spot: checkpoints every N rounds, and a resumed run gives the uninterrupted run's model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from esteira_model.predictor import Predictor
from esteira_model.schema import MODEL_FILENAME
from esteira_model.train import INTERRUPT_ENV, INTERRUPT_EXIT_CODE
from tests.containers.model.helpers import FEATURES, TRAIN_BIN, MLRoot, make_frame, run_bin, run_train_in_process

# Row and column sampling are on: they are what a naive resume gets wrong.
HYPERPARAMETERS = {
    "target": "label",
    "drop_columns": "customer_id",
    "num_round": "60",
    "early_stopping_rounds": "15",
    "subsample": "0.7",
    "colsample_bytree": "0.8",
    "checkpoint_frequency": "10",
}


def _prepare(root: MLRoot) -> None:
    root.write_parquet_tree("train", make_frame(1500, seed=5))
    root.write_hyperparameters(HYPERPARAMETERS)


def test_resumed_run_matches_uninterrupted_run(tmp_path: Path) -> None:
    # GIVEN two identical jobs
    straight, interrupted = MLRoot(tmp_path / "straight"), MLRoot(tmp_path / "interrupted")
    _prepare(straight)
    _prepare(interrupted)

    # WHEN one runs through, and the other is killed after 23 rounds (last checkpoint at 20) and rerun
    assert run_bin(TRAIN_BIN, straight.root).returncode == 0
    killed = run_bin(TRAIN_BIN, interrupted.root, {INTERRUPT_ENV: "23"})
    assert killed.returncode == INTERRUPT_EXIT_CODE, killed.stderr
    assert not (interrupted.model_dir / MODEL_FILENAME).exists()
    checkpoints = sorted(p.name for p in (interrupted.root / "checkpoints").glob("*.json"))
    assert checkpoints == ["checkpoint-0000010.json", "checkpoint-0000020.json"]
    resumed = run_bin(TRAIN_BIN, interrupted.root)

    # THEN the rerun resumes from round 20 and ends with the same model bytes and predictions
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from checkpoint after 20 round(s)" in resumed.stdout
    straight_bytes = (straight.model_dir / MODEL_FILENAME).read_bytes()
    assert (interrupted.model_dir / MODEL_FILENAME).read_bytes() == straight_bytes
    rows = make_frame(200, seed=6)[list(FEATURES)].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(
        Predictor.load(straight.model_dir).predict(rows).scores,
        Predictor.load(interrupted.model_dir).predict(rows).scores,
    )
    assert json.loads((straight.model_dir / "evaluation.json").read_text()) == json.loads(
        (interrupted.model_dir / "evaluation.json").read_text()
    )


def test_checkpoint_from_other_data_is_ignored(tmp_path: Path) -> None:
    # GIVEN a checkpoint directory left by a job on other data
    first = MLRoot(tmp_path / "first")
    _prepare(first)
    assert run_bin(TRAIN_BIN, first.root, {INTERRUPT_ENV: "12"}).returncode == INTERRUPT_EXIT_CODE
    second = MLRoot(tmp_path / "second")
    second.write_parquet_tree("train", make_frame(1500, seed=99))
    second.write_hyperparameters(HYPERPARAMETERS)
    (second.root / "checkpoints").symlink_to(first.root / "checkpoints")

    # WHEN train runs with it (in this process: it is not interrupted)
    result = run_train_in_process(second.root)

    # THEN it starts from scratch instead of resuming someone else's model
    assert result.returncode == 0, result.stderr
    assert "Ignoring checkpoint" in result.stdout
    assert "Resuming" not in result.stdout


def test_tuning_trials_sharing_one_checkpoint_uri_keep_their_own_checkpoints(tmp_path: Path) -> None:
    # GIVEN two trials of one tuning job: one CheckpointConfig.S3Uri, synced into each trial's /opt/ml/checkpoints
    shared = tmp_path / "shared-checkpoint-uri"
    shared.mkdir()
    trials = {
        "esteira-staging-2512060800-ab12-001-1f2e3d4c": "0.3",
        "esteira-staging-2512060800-ab12-002-5a6b7c8d": "0.1",
    }
    roots = {}
    for name, eta in trials.items():
        root = MLRoot(tmp_path / name)
        root.write_parquet_tree("train", make_frame(1500, seed=5))
        root.write_hyperparameters({**HYPERPARAMETERS, "eta": eta})
        (root.root / "checkpoints").symlink_to(shared)
        roots[name] = root
    first, second = trials

    # WHEN both are interrupted (the first after its round-20 checkpoint, the second after round 10), the first reruns
    assert run_bin(TRAIN_BIN, roots[first].root, {INTERRUPT_ENV: "23", "TRAINING_JOB_NAME": first}).returncode == (
        INTERRUPT_EXIT_CODE
    )
    assert run_bin(TRAIN_BIN, roots[second].root, {INTERRUPT_ENV: "13", "TRAINING_JOB_NAME": second}).returncode == (
        INTERRUPT_EXIT_CODE
    )
    # (the rerun in this process: test_resumed_run_matches_uninterrupted_run resumes in a new process, as a spot
    # restart does; here only whose checkpoint it finds is checked)
    resumed = run_train_in_process(roots[first].root, {"TRAINING_JOB_NAME": first})

    # THEN each trial's checkpoints sit under its own job name, and the first resumes from its own round 20
    assert sorted(path.name for path in shared.iterdir()) == sorted(trials)
    assert sorted(p.name for p in (shared / second).glob("*.json")) == ["checkpoint-0000010.json"]
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from checkpoint after 20 round(s)" in resumed.stdout
    assert "Ignoring checkpoint" not in resumed.stdout
