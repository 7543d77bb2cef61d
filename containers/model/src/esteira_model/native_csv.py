"""The model server's CSV codec in C (containers/model/native/csv_codec.cc), loaded with ctypes.

The library is built beside this module: by the image's Dockerfile, and by make for `make test`,
`make pipeline` and `make bench-serving`. ctypes releases the GIL for each call, so requests on different threads
parse and format at once. Without the library (a checkout nobody built, or ESTEIRA_NATIVE_CSV=0),
`CODEC` is None and codecs.py uses its Python code; `serve` says so when it starts.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LIBRARY = Path(__file__).with_name("_csv_codec.so")
SWITCH_ENV = "ESTEIRA_NATIVE_CSV"

_size = ctypes.c_size_t
_pointer = ctypes.c_void_p


@dataclass(frozen=True)
class LabelTable:
    """Class labels' CSV texts, concatenated, with offsets: label i is text[offsets[i]:offsets[i + 1]]."""

    text: bytes
    offsets: np.ndarray
    longest: int

    @classmethod
    def of(cls, labels: list[bytes]) -> LabelTable:
        offsets = np.zeros(len(labels) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(label) for label in labels])
        return cls(b"".join(labels), offsets, max((len(label) for label in labels), default=0))


class NativeCSV:
    def __init__(self, path: Path) -> None:
        library = ctypes.CDLL(str(path))
        self._lines = library.esteira_csv_lines
        self._lines.argtypes = [ctypes.c_char_p, _size, ctypes.POINTER(_size)]
        self._lines.restype = _size
        self._parse = library.esteira_parse_csv
        self._parse.argtypes = [ctypes.c_char_p, _size, _size, _size, _pointer]
        self._parse.restype = ctypes.c_int
        self._format = library.esteira_format_csv
        self._format.argtypes = [
            ctypes.c_char_p,
            _size,
            _size,
            _pointer,
            ctypes.c_char_p,
            _pointer,
            _size,
            _pointer,
            _size,
        ]
        self._format.restype = ctypes.c_long

    def parse(self, body: bytes, columns: int) -> np.ndarray | None:
        """Records of `columns` plain numbers each, or None: let the careful parser decide.

        Trailing spaces and line ends are ignored and lines end with \\n or \\r\\n, as in the careful parser. A body
        with \\n line ends is not copied; \\r\\n ones are replaced first (one copy), which keeps the C loop lean.
        The C code needs `bytes`, whose buffer always ends with a NUL byte.
        """
        if type(body) is not bytes:
            body = bytes(body)
        if b"\r" in body:
            body = body.replace(b"\r\n", b"\n")
        length = _size()
        rows = self._lines(body, len(body), ctypes.byref(length))
        if rows == 0 or columns < 1:
            return None
        matrix = np.empty((rows, columns), dtype=np.float64)
        if self._parse(body, length.value, rows, columns, matrix.ctypes.data) != 0:
            return None
        return matrix

    def format(self, scores: bytes, count: int, label_index: np.ndarray | None, labels: LabelTable | None) -> bytes:
        """`label,score` lines from the scores' comma-separated text (regression: label_index None)."""
        if label_index is None or labels is None:
            capacity = 2 * len(scores) + 2 * count
            index_address, label_text, offsets_address, label_count = None, None, None, 0
        else:
            label_index = np.ascontiguousarray(label_index, dtype=np.int64)
            capacity = len(scores) + count * (labels.longest + 2)
            index_address, label_text = label_index.ctypes.data, labels.text
            offsets_address, label_count = labels.offsets.ctypes.data, len(labels.offsets) - 1
        out = ctypes.create_string_buffer(capacity)
        written = self._format(
            scores, len(scores), count, index_address, label_text, offsets_address, label_count, out, capacity
        )
        if written < 0:
            raise ValueError("the scores' text or the class indexes do not match the scores")
        return ctypes.string_at(out, written)


def load(path: Path = LIBRARY) -> NativeCSV | None:
    if os.environ.get(SWITCH_ENV, "1") == "0" or not path.is_file():
        return None
    return NativeCSV(path)


CODEC = load()
