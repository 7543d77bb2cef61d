"""Every bad input leaves a one-paragraph reason in output/failure and a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from tests.containers.model.helpers import MLRoot, make_frame, run_train_in_process


def _missing_channel(root: MLRoot) -> None:
    root.write_hyperparameters({"target": "label"})
    root.channel("validation")  # only a validation channel


def _missing_target(root: MLRoot) -> None:
    root.write_parquet_tree("train", make_frame(100, seed=1).drop(columns=["label"]))
    root.write_hyperparameters({"target": "label"})


def _non_numeric_label(root: MLRoot) -> None:
    frame = make_frame(100, seed=1)
    frame["label"] = frame["label"].map({0: "no", 1: "yes"})
    root.write_parquet_tree("train", frame)
    root.write_hyperparameters({"target": "label", "drop_columns": "customer_id"})


def _empty_data(root: MLRoot) -> None:
    root.write_parquet_tree("train", make_frame(100, seed=1).iloc[:0])
    root.write_hyperparameters({"target": "label"})


def _no_data_files(root: MLRoot) -> None:
    channel = root.channel("train")
    (channel / "_SUCCESS").write_text("")
    (channel / "notes.txt").write_text("nothing here")


def _empty_csv(root: MLRoot) -> None:
    (root.channel("train") / "part.csv").write_text("f0,f1,label\n")


def _non_numeric_feature(root: MLRoot) -> None:
    frame = make_frame(100, seed=1)
    frame["city"] = "lisbon"
    root.write_parquet_tree("train", frame)
    root.write_hyperparameters({"target": "label", "drop_columns": "customer_id"})


def _bad_hyperparameter(root: MLRoot) -> None:
    root.write_parquet_tree("train", make_frame(100, seed=1))
    root.write_hyperparameters({"target": "label", "num_round": "many"})


def _unknown_hyperparameter(root: MLRoot) -> None:
    root.write_parquet_tree("train", make_frame(100, seed=1))
    root.write_hyperparameters({"target": "label", "num_rounds": "10"})


def _single_class(root: MLRoot) -> None:
    frame = make_frame(100, seed=1)
    frame["label"] = 1
    root.write_parquet_tree("train", frame)
    root.write_hyperparameters({"drop_columns": "customer_id"})


def _missing_labels(root: MLRoot) -> None:
    frame = make_frame(100, seed=1)
    frame["label"] = frame["label"].astype("float64")
    frame.loc[3, "label"] = float("nan")
    root.write_parquet_tree("train", pd.DataFrame(frame))
    root.write_hyperparameters({"drop_columns": "customer_id"})


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        (_missing_channel, "'train' channel is missing"),
        (_missing_target, "no label column 'label'"),
        (_non_numeric_label, "label column 'label' in the train data is not numeric"),
        (_empty_data, "no rows"),
        (_no_data_files, "holds no data files"),
        (_empty_csv, "no rows"),
        (_non_numeric_feature, "Feature column 'city' in the train data is not numeric"),
        (_bad_hyperparameter, "'num_round' has an invalid value 'many'"),
        (_unknown_hyperparameter, "Unknown hyperparameters ['num_rounds']"),
        (_single_class, "exactly 2 label values"),
        (_missing_labels, "1 missing or infinite value"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_bad_input_writes_failure_reason(ml_root: MLRoot, arrange: Callable[[MLRoot], None], expected: str) -> None:
    # GIVEN an ML root with one kind of bad input
    arrange(ml_root)
    # WHEN train runs
    result = run_train_in_process(ml_root.root)
    # THEN it exits non-zero, writes no model and explains why in one paragraph
    assert result.returncode != 0
    assert not (ml_root.model_dir / "xgboost-model.ubj").exists()
    reason = ml_root.failure.read_text()
    assert expected in reason
    assert reason.count("\n") == 1 and reason.endswith("\n")
    assert "Traceback" not in reason
