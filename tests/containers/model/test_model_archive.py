"""``train`` writes no data rows into the model directory, so none into ``model.tar.gz`` (issue 16).

The smoke test reads its held-out rows at test time from the dataset run's holdout prefix, which is restricted and
KMS-encrypted; a model archive is shared across accounts and must carry the model, its schema and metrics only.
"""

from __future__ import annotations

import tarfile

import pytest

from esteira_model.schema import EVALUATION_FILENAME, MODEL_FILENAME, SCHEMA_FILENAME
from pipeline.model import make_tarball
from tests.containers.model.helpers import MLRoot, make_frame, run_train_in_process

DATA_SUFFIXES = (".csv", ".parquet", ".jsonl", ".json.gz", ".csv.gz")


@pytest.mark.parametrize(
    ("task", "objective"),
    [("binary", "binary:logistic"), ("multiclass", "multi:softprob"), ("regression", "reg:squarederror")],
)
def test_model_archive_holds_no_data_rows(ml_root: MLRoot, task: str, objective: str) -> None:
    # GIVEN train, validation and holdout channels of one task
    for offset, channel in enumerate(("train", "validation", "holdout")):
        ml_root.write_parquet_tree(channel, make_frame(300, seed=40 + offset, task=task), parts=2)
    ml_root.write_hyperparameters({"objective": objective, "drop_columns": "customer_id", "num_round": "5"})
    # WHEN the real train runs and its model directory is packed as SageMaker packs it
    result = run_train_in_process(ml_root.root)
    assert result.returncode == 0, result.stderr
    archive = ml_root.root / "model.tar.gz"
    make_tarball(ml_root.model_dir, archive)
    # THEN model.tar.gz holds the model, its schema and its evaluation, and no CSV, Parquet or JSONL member
    with tarfile.open(archive) as tar:
        members = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert members == sorted([MODEL_FILENAME, SCHEMA_FILENAME, EVALUATION_FILENAME])
    assert not [name for name in members if name.lower().endswith(DATA_SUFFIXES)]
    assert not [name for name in members if "holdout" in name.lower() or name.startswith("smoke")]
