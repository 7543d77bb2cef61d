"""Read a training channel: a tree of Parquet part files or CSV files with a header."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from esteira_model.errors import TrainingError

PARQUET = "parquet"
CSV = "csv"

# Columns that are never features: the extraction job's partition key.
NON_FEATURE_COLUMNS: frozenset[str] = frozenset({"dt"})

_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_CONTENT_TYPES = {"application/x-parquet", "application/vnd.apache.parquet", "application/parquet"}
_CSV_CONTENT_TYPES = {"text/csv", "application/csv"}
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class ChannelConfig:
    content_type: str | None


def read_input_data_config(path: Path) -> dict[str, ChannelConfig]:
    """inputdataconfig.json, or an empty mapping when the file is absent (local runs)."""
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise TrainingError(f"{path} is not valid JSON: {err}.") from err
    if not isinstance(raw, dict):
        raise TrainingError(f"{path} must hold a JSON object keyed by channel name.")
    out = {}
    for name, conf in raw.items():
        content_type = conf.get("ContentType") if isinstance(conf, dict) else None
        out[str(name)] = ChannelConfig(str(content_type).split(";")[0].strip().lower() if content_type else None)
    return out


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


def _has_parquet_magic(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == _PARQUET_MAGIC
    except OSError:
        return False


def _classify(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return PARQUET
    if name.endswith(_CSV_SUFFIXES):
        return CSV
    # Spark and Glue sometimes write part files with no extension.
    if "." not in name and _has_parquet_magic(path):
        return PARQUET
    return None


def discover_files(root: Path, content_type: str | None = None) -> tuple[str, list[Path]]:
    """Data files under root in a stable order, skipping _manifests, _SUCCESS, dotfiles and others."""
    candidates = sorted(p for p in root.rglob("*") if p.is_file() and not _is_hidden(p, root))
    by_format: dict[str, list[Path]] = {PARQUET: [], CSV: []}
    for path in candidates:
        kind = _classify(path)
        if kind is not None:
            by_format[kind].append(path)
    wanted: str | None = None
    if content_type in _PARQUET_CONTENT_TYPES:
        wanted = PARQUET
    elif content_type in _CSV_CONTENT_TYPES:
        wanted = CSV
    if wanted is None:
        if by_format[PARQUET] and by_format[CSV]:
            raise TrainingError(
                f"Channel directory {root} mixes Parquet and CSV files; "
                "set the channel's ContentType or keep one format per channel."
            )
        wanted = PARQUET if by_format[PARQUET] else CSV
    return wanted, by_format[wanted]


def read_channel(name: str, root: Path, content_type: str | None = None) -> pd.DataFrame:
    if not root.is_dir():
        raise TrainingError(
            f"The {name!r} channel is missing: expected a directory at {root}. "
            f"Give the training job an input channel named {name!r}."
        )
    kind, files = discover_files(root, content_type)
    if not files:
        raise TrainingError(
            f"The {name!r} channel at {root} holds no data files (.parquet, Parquet part files or .csv); "
            "the extraction may have produced nothing."
        )
    frames = []
    for path in files:
        try:
            frame = pq.read_table(path).to_pandas() if kind == PARQUET else pd.read_csv(path)
        except Exception as err:  # pyarrow and pandas raise many types for unreadable files
            raise TrainingError(f"Cannot read {path} in channel {name!r} as {kind}: {err}.") from err
        if len(frame.columns):
            frames.append(frame)
    if not frames:
        raise TrainingError(f"The {name!r} channel at {root} has files but no columns.")
    data: pd.DataFrame = pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0]
    if data.empty:
        raise TrainingError(f"The {name!r} channel at {root} has {len(files)} file(s) but no rows.")
    return data


def is_numeric_column(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype))


def feature_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    return "float"


def to_float_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Numeric columns as a C-ordered float64 matrix; pandas' missing values become NaN."""
    return np.ascontiguousarray(frame.to_numpy(dtype=np.float64, na_value=np.nan))
