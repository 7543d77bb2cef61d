"""Request parsing and response formatting for /invocations, tuned for the common cases.

CSV takes a fast path in C (native_csv: plain numbers and empty fields, parsed without the GIL) and
falls back to a careful per-field parser, which decides everything else and produces the error
messages. CSV output: orjson writes the scores' text in one call and C the lines around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from esteira_model import native_csv
from esteira_model.predictor import Predictions, Predictor

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"

CONTENT_TYPE_ALIASES = {
    "text/csv": CSV,
    "application/csv": CSV,
    "application/json": JSON,
    "application/jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "application/json-lines": JSONLINES,
}

_MAX_REPORTED = 80


class BadRequest(Exception):  # noqa: N818 - named for its HTTP status
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def normalize_media_type(value: str | None) -> str | None:
    if not value:
        return None
    return CONTENT_TYPE_ALIASES.get(value.split(";", 1)[0].strip().lower())


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPORTED else text[:_MAX_REPORTED] + "..."


def _check_finite(features: np.ndarray) -> np.ndarray:
    if np.isinf(features).any():
        row, col = np.argwhere(np.isinf(features))[0]
        raise BadRequest(f"record {row + 1}, column {col + 1}: infinite values are not accepted")
    return features


# ---------------------------------------------------------------------------------------------
# CSV


def parse_csv(body: bytes, num_features: int) -> np.ndarray:
    """No header, one record per line, features in schema order. Empty fields are missing values."""
    if native_csv.CODEC is not None:
        fast = native_csv.CODEC.parse(body, num_features)
        if fast is not None:
            return fast  # finite: the C parser leaves infinities to the careful one
    text = body.rstrip(b"\r\n\t ")
    if not text:
        raise BadRequest("empty body: send one CSV record per line")
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
    return _parse_csv_careful(text.split(b"\n"), num_features)


def _parse_csv_careful(lines: Sequence[bytes], num_features: int) -> np.ndarray:
    features = np.empty((len(lines), num_features), dtype=np.float64)
    for row, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            raise BadRequest(f"record {row + 1} is an empty line; every line must hold {num_features} values")
        fields = stripped.split(b",")
        if len(fields) != num_features:
            raise BadRequest(f"record {row + 1} has {len(fields)} columns; the model expects {num_features}")
        for col, field in enumerate(fields):
            token = field.strip()
            if not token:
                features[row, col] = np.nan
                continue
            try:
                features[row, col] = float(token)
            except ValueError:
                raise BadRequest(
                    f"record {row + 1}, column {col + 1}: {_short(token.decode('utf-8', 'replace'))} is not a number"
                ) from None
    return _check_finite(features)


# ---------------------------------------------------------------------------------------------
# JSON and JSON lines


def _number(value: Any, row: int, col: int) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            pass
    raise BadRequest(f"record {row + 1}, column {col + 1}: {_short(value)} is not a number")


def rows_to_matrix(rows: Sequence[Any], predictor: Predictor) -> np.ndarray:
    """Rows are lists in schema order or objects keyed by feature name; null is a missing value."""
    names = predictor.schema.names
    n = len(names)
    if all(type(row) is list and len(row) == n for row in rows):
        try:
            # Fast path: numbers only. Strings, nulls and nesting give another dtype or shape.
            array = np.array(rows)
        except (ValueError, TypeError, OverflowError):
            pass
        else:
            if array.dtype.kind in "fiub" and array.shape == (len(rows), n):
                return _check_finite(array.astype(np.float64, copy=False))
    features = np.empty((len(rows), n), dtype=np.float64)
    for i, row in enumerate(rows):
        if isinstance(row, list):
            if len(row) != n:
                raise BadRequest(f"record {i + 1} has {len(row)} values; the model expects {n}")
            features[i] = [_number(v, i, j) for j, v in enumerate(row)]
        elif isinstance(row, dict):
            missing = [name for name in names if name not in row]
            if missing:
                raise BadRequest(f"record {i + 1} lacks features {_short(missing[:10])}")
            features[i] = [_number(row[name], i, j) for j, name in enumerate(names)]
        else:
            raise BadRequest(f"record {i + 1} must be a list of {n} values or an object keyed by feature name")
    return _check_finite(features)


def parse_json(body: bytes, predictor: Predictor) -> np.ndarray:
    if not body.strip():
        raise BadRequest('empty body: send {"instances": [...]}')
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise BadRequest(f"malformed JSON: {err}") from None
    if not isinstance(document, dict) or "instances" not in document:
        raise BadRequest('the JSON body must be an object with an "instances" list')
    rows = document["instances"]
    if not isinstance(rows, list):
        raise BadRequest('"instances" must be a list of records')
    if not rows:
        raise BadRequest('"instances" is empty')
    return rows_to_matrix(rows, predictor)


def parse_jsonlines(body: bytes, predictor: Predictor) -> np.ndarray:
    text = body.rstrip(b"\r\n\t ")
    if not text:
        raise BadRequest("empty body: send one JSON record per line")
    rows = []
    for i, line in enumerate(text.split(b"\n")):
        if not line.strip():
            raise BadRequest(f"record {i + 1} is an empty line")
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as err:
            raise BadRequest(f"record {i + 1} is malformed JSON: {err}") from None
    return rows_to_matrix(rows, predictor)


def parse(body: bytes, content_type: str, predictor: Predictor) -> np.ndarray:
    if content_type == CSV:
        return parse_csv(body, predictor.num_features)
    if content_type == JSON:
        return parse_json(body, predictor)
    return parse_jsonlines(body, predictor)


# ---------------------------------------------------------------------------------------------
# Output


def _labels(predictions: Predictions, predictor: Predictor) -> list[Any]:
    if predictions.label_index is None:
        return list(predictions.scores.tolist())
    lookup = predictor.class_labels
    return [lookup[i] for i in predictions.label_index.tolist()]


def _score_text(scores: np.ndarray) -> list[bytes]:
    """Each score as the shortest text that reads back as the same value (XGBoost's float32).

    orjson formats the whole array in one C call; `nan` and `inf`, which JSON spells `null`, are
    patched in one by one (XGBoost does not produce them from finite input).
    """
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    finite = np.isfinite(scores)
    every_finite = bool(finite.all())
    array = np.ascontiguousarray(scores if every_finite else np.where(finite, scores, 0))
    text = orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    if not every_finite:
        for i in np.flatnonzero(~finite).tolist():
            text[i] = repr(float(scores[i])).encode()
    return text


def format_csv(predictions: Predictions, predictor: Predictor) -> bytes:
    """`label,score` per line, one line per input record, in input order."""
    scores = predictions.scores
    native = native_csv.CODEC
    if (
        native is None
        or len(scores) == 0
        or scores.dtype not in (np.float32, np.float64)
        or not np.isfinite(scores).all()
    ):
        return _format_csv_in_python(predictions, predictor)
    # orjson writes the scores' text in one call, as _score_text does; C writes the lines around it.
    text = orjson.dumps(np.ascontiguousarray(scores), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    table = None if predictions.label_index is None else predictor.class_label_table
    return native.format(text, len(scores), predictions.label_index, table)


def _format_csv_in_python(predictions: Predictions, predictor: Predictor) -> bytes:
    """format_csv without the C library, and for scores that are not finite (XGBoost gives none for finite input)."""
    count = len(predictions.scores)
    if count == 0:
        return b""
    scores = _score_text(predictions.scores)
    if predictions.label_index is None:
        labels = scores  # regression: the label is the score
    else:
        labels = predictor.class_label_bytes[predictions.label_index].tolist()
    # Interleaved by slice assignment and joined once: no per-line Python formatting.
    pieces = [b","] * (4 * count)
    pieces[0::4] = labels
    pieces[2::4] = scores
    pieces[3::4] = [b"\n"] * count
    return b"".join(pieces)


def format_json(predictions: Predictions, predictor: Predictor) -> bytes:
    labels = _labels(predictions, predictor)
    return orjson.dumps(
        {
            "predictions": [
                {"predicted_label": label, "score": score}
                for label, score in zip(labels, predictions.scores.tolist(), strict=True)
            ]
        }
    )


def format_jsonlines(predictions: Predictions, predictor: Predictor) -> bytes:
    labels = _labels(predictions, predictor)
    dumps = orjson.dumps
    lines = [
        dumps({"predicted_label": label, "score": score})
        for label, score in zip(labels, predictions.scores.tolist(), strict=True)
    ]
    return b"\n".join(lines) + b"\n"


def format_output(predictions: Predictions, accept: str, predictor: Predictor) -> bytes:
    if accept == CSV:
        return format_csv(predictions, predictor)
    if accept == JSON:
        return format_json(predictions, predictor)
    return format_jsonlines(predictions, predictor)


def choose_accept(header: str | None, content_type: str) -> str | None:
    """The response type: the first supported type in Accept; the request's type for */* or none."""
    if not header or not header.strip():
        return content_type
    for part in header.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("*/*", "application/*", ""):
            return content_type if media != "application/*" or content_type != CSV else JSON
        if media == "text/*":
            return CSV
        normalized = CONTENT_TYPE_ALIASES.get(media)
        if normalized:
            return normalized
    return None
