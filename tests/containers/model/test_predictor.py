"""The lean predict path returns exactly what XGBoost's inplace_predict returns."""

from __future__ import annotations

import threading

import numpy as np

from esteira_model.predictor import Predictor
from tests.containers.model.helpers import MLRoot


def test_fast_path_matches_inplace_predict(trained_root: MLRoot) -> None:
    # GIVEN the trained model loaded twice, one with the lean C call
    plain = Predictor.load(trained_root.model_dir)
    fast = Predictor.load(trained_root.model_dir)
    assert fast.enable_fast_path()
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(300, plain.num_features)) * 2
    rows[rng.random(rows.shape) < 0.15] = np.nan
    # WHEN both predict single rows, batches and non-contiguous input
    for batch in (rows[:1], rows[:7], rows, rows[::2], rows.astype(np.float32)):
        expected, got = plain.predict(batch), fast.predict(batch)
        # THEN scores and labels are identical
        np.testing.assert_array_equal(got.scores, expected.scores)
        assert expected.label_index is not None and got.label_index is not None
        np.testing.assert_array_equal(got.label_index, expected.label_index)


def test_fast_path_is_thread_safe(trained_root: MLRoot) -> None:
    # GIVEN one predictor with the lean call shared by 8 threads
    fast = Predictor.load(trained_root.model_dir)
    assert fast.enable_fast_path()
    rng = np.random.default_rng(4)
    inputs = [rng.normal(size=(1 + i, fast.num_features)) for i in range(8)]
    expected = [fast.predict(x).scores for x in inputs]
    mismatches: list[int] = []

    def work(i: int) -> None:
        for _ in range(200):
            if not np.array_equal(fast.predict(inputs[i]).scores, expected[i]):
                mismatches.append(i)

    # WHEN they predict concurrently
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every thread always gets its own rows' predictions
    assert mismatches == []
