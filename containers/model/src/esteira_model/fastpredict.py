"""A lean call into XGBoost's C predictor for the serving hot path.

`Booster.inplace_predict` spends more time in Python (argument JSON, array-interface objects, a
class built per call) than XGBoost spends predicting one row. This calls the same C function,
XGBoosterPredictFromDense, with the same configuration, prepared once. Predictor only uses it after
checking that it returns exactly what inplace_predict returns, and falls back otherwise.

It also hands XGBoost a proxy DMatrix kept per thread: without one, XGBoost builds a new proxy for
every call, and with it a context that reads cgroup files and parses a device string (about a third
of a single-row call).
"""

from __future__ import annotations

import ctypes
import json
import threading
from typing import Any

import numpy as np
import xgboost as xgb


class FastPredict:
    def __init__(self, booster: xgb.Booster) -> None:
        from xgboost import core  # the library handle and error check XGBoost itself uses

        self._lib: Any = core._LIB
        self._check: Any = core._check_call
        self._bst_ulong: Any = core.c_bst_ulong  # type: ignore[attr-defined]
        self._function: Any = self._lib.XGBoosterPredictFromDense
        self._handle = booster.handle
        # Value prediction over every tree, NaN as missing: what inplace_predict sends by default.
        config = {
            "type": 0,
            "training": False,
            "iteration_begin": 0,
            "iteration_end": 0,
            "missing": float("nan"),
            "strict_shape": False,
            "cache_id": 0,
        }
        self._config = json.dumps(config).encode()
        self._proxy_type: Any = core._ProxyDMatrix
        self._local = threading.local()

    def _proxy_handle(self) -> Any:
        proxy = getattr(self._local, "proxy", None)
        if proxy is None:
            proxy = self._local.proxy = self._proxy_type()
        return proxy.handle

    def __call__(self, features: np.ndarray) -> np.ndarray:
        if features.dtype != np.float64 or not features.flags.c_contiguous or features.ndim != 2:
            features = np.ascontiguousarray(features, dtype=np.float64).reshape(len(features), -1)
        rows, cols = features.shape
        interface = (
            '{"data": [%d, true], "shape": [%d, %d], "strides": null, "typestr": "<f8", "version": 3}'  # noqa: UP031
            % (features.ctypes.data, rows, cols)
        ).encode()
        shape = ctypes.POINTER(self._bst_ulong)()
        dims = self._bst_ulong()
        preds = ctypes.POINTER(ctypes.c_float)()
        self._check(
            self._function(
                self._handle,
                interface,
                self._config,
                self._proxy_handle(),
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(preds),
            )
        )
        out_shape = tuple(int(shape[i]) for i in range(dims.value))
        size = int(np.prod(out_shape)) if out_shape else 0
        # Copy out of XGBoost's per-thread buffer before the next call reuses it.
        flat = np.ctypeslib.as_array(preds, shape=(size,)).copy() if size else np.empty(0, np.float32)
        return flat.reshape(out_shape)


def build_fast_predict(booster: xgb.Booster, probe: np.ndarray) -> FastPredict | None:
    """The fast path if it reproduces inplace_predict bit for bit on the probe rows, else None."""
    try:
        fast = FastPredict(booster)
        expected = booster.inplace_predict(probe, validate_features=False)
        got = fast(probe)
        single = fast(probe[:1])
    except Exception:  # any mismatch in a future XGBoost means: use the public API
        return None
    same = (
        got.dtype == expected.dtype
        and got.shape == expected.shape
        and np.array_equal(got, expected, equal_nan=True)
        and np.array_equal(single, booster.inplace_predict(probe[:1], validate_features=False), equal_nan=True)
    )
    return fast if same else None
