"""The CSV codec in C (containers/model/native/csv_codec.cc): parsing against float(), formatting against Python's."""

from __future__ import annotations

import importlib.util
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esteira_model import codecs, native_csv
from esteira_model.codecs import _format_csv_in_python, format_csv
from esteira_model.native_csv import LabelTable
from esteira_model.predictor import Predictions, Predictor
from tests.containers.model.helpers import MODEL_DIR

CODEC = native_csv.CODEC
NATIVE = MODEL_DIR / "native"


SMALLEST_NORMAL = 2.2250738585072014e-308


def _left_to_careful_parser(text: str, value: float) -> bool:
    """Infinities, denormals and underflows to zero: the careful parser reads those."""
    mantissa = text.lower().split("e")[0]
    underflow = value == 0.0 and any(digit in mantissa for digit in "123456789")
    return not np.isfinite(value) or 0 < abs(value) < SMALLEST_NORMAL or underflow


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)  # tells -0.0 from 0.0, which == does not


def test_the_committed_table_of_powers_of_five_is_what_its_script_writes() -> None:
    # GIVEN native/powers_of_five.py, which writes the table the C code includes
    spec = importlib.util.spec_from_file_location("powers_of_five", NATIVE / "powers_of_five.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    # WHEN it writes the table THEN it is the committed header, byte for byte
    assert (NATIVE / "powers_of_five.h").read_text() == script.header()


def test_the_library_is_built_where_the_server_loads_it() -> None:
    # GIVEN the environment `make test` set up (the image's Dockerfile builds the same file)
    # THEN the library is there and loaded: without it every test below would silently test nothing
    assert native_csv.LIBRARY.is_file()
    assert CODEC is not None


def parse(body: bytes, columns: int) -> np.ndarray | None:
    assert CODEC is not None
    return CODEC.parse(body, columns)


def _one(text: str) -> float | None:
    parsed = parse(text.encode(), 1)
    return None if parsed is None else float(parsed[0, 0])


def _assert_reads_as(text: str, expected: float) -> None:
    got = _one(text)
    if got is None:
        assert _left_to_careful_parser(text, expected), text
    else:
        assert _bits(got) == _bits(expected), (text, got, expected)


decimal_text = st.builds(
    lambda sign, whole, fraction, exponent: sign + whole + fraction + exponent,
    st.sampled_from(["", "-", "+"]),
    st.text("0123456789", max_size=22),
    st.one_of(st.just(""), st.text("0123456789", max_size=22).map(lambda digits: "." + digits)),
    st.one_of(
        st.just(""),
        st.builds(
            lambda mark, sign, value: f"{mark}{sign}{value}",
            st.sampled_from("eE"),
            st.sampled_from(["", "-", "+"]),
            st.integers(0, 400),
        ),
    ),
).filter(lambda text: any(c.isdigit() for c in text.split("e")[0].split("E")[0]))


@settings(max_examples=2000, deadline=None)
@given(decimal_text)
def test_every_plain_number_reads_as_float_reads_it(text: str) -> None:
    # GIVEN a number in the parser's grammar: up to 22 digits on each side of the point, any exponent
    expected = float(text)
    # WHEN parsed natively THEN it is float()'s value to the bit, sign of zero included, or (only for infinities
    # and denormals, which the careful parser handles) left to the careful parser
    _assert_reads_as(text, expected)


@settings(max_examples=2000, deadline=None)
@given(st.integers(1, 10**19 - 1), st.integers(-360, 330), st.sampled_from(["", "-"]))
def test_long_mantissas_at_every_exponent_read_as_float_reads_them(mantissa: int, exponent: int, sign: str) -> None:
    # GIVEN up to 19 digits at any decimal exponent (Eisel-Lemire's ground, and from_chars' beyond it)
    text = f"{sign}{mantissa}e{exponent}"
    expected = float(text)
    # WHEN parsed natively THEN float()'s value to the bit, or left to the careful parser for infinities and denormals
    _assert_reads_as(text, expected)


@settings(max_examples=1000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_repr_of_any_double_round_trips(value: float) -> None:
    # GIVEN any finite double written as Python (and pandas) write it: up to 17 significant digits
    # WHEN parsed natively THEN the same double comes back (denormals may be left to the careful parser)
    _assert_reads_as(repr(value), value)


@pytest.mark.parametrize(
    "text",
    [
        "9007199254740992",  # 2^53: the largest mantissa the exact path takes
        "9007199254740993",  # 2^53 + 1: halfway, rounds to even (down), through Eisel-Lemire
        "9007199254740995",  # halfway, rounds to even (up)
        "0.1000000000000000055511151231257827",  # more than 19 digits: from_chars
        "2.2250738585072011e-308",  # just below the smallest normal double: from_chars
        "1.7976931348623158e308",  # rounds to the largest double
        "123456789012345678e-30",
        "4.9406564584124654e-300",
        "8.98846567431158e307",
        "1234567890123456789",  # 19 digits
        "12345678901234567890",  # 20 digits: the mantissa could overflow; from_chars
        "0.12345678901234567",  # 17 digits, as repr() writes a double: Eisel-Lemire
        "0000000000000000000001.5",  # leading zeros count as digits: from_chars
        "1e22",
        "1e23",  # 10^23 is not a double: from_chars
        "123456e-22",
        "123456e-23",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",  # the smallest normal double
        "0.1",
        "-0",
        "-0.0e5",
        "0e999999999999",
        "+1",
        ".5",
        "5.",
        "007",
        "-7e-300",
    ],
)
def test_boundary_values_match_float(text: str) -> None:
    # GIVEN a number at an edge of the exact path WHEN parsed natively THEN float()'s value to the bit
    got = _one(text)
    assert got is not None
    assert _bits(got) == _bits(float(text))


@pytest.mark.parametrize(
    "text",
    [
        "1e309",
        "-1e400",
        "nan",
        "inf",
        "1_0",
        " 1",
        "1 \n2",  # a space inside the body (only trailing whitespace is trimmed)
        "1\t\n2",
        "1\r\r\n2",
        "0x10",
        "1e",
        "e1",
        "-",
        ".",
        "1..2",
        "1e+",
        "--1",
        "1\x00",
    ],
)
def test_anything_else_is_left_to_the_careful_parser(text: str) -> None:
    # GIVEN a field outside the plain grammar (or a value float() reads as infinite)
    # WHEN parsed natively THEN no answer: the careful parser decides and words the error
    assert _one(text) is None


@pytest.mark.parametrize(
    ("body", "columns"),
    [
        (b"1,2\n3", 2),  # a short last line
        (b"1,2\n3,4,5", 2),  # a long last line
        (b"1,2,3\n4", 2),  # the same total, wrongly split
        (b"1\n\n2", 1),  # an empty line is not a missing value
        (b"1,2\n\n3,4", 2),  # an empty line between records
        (b"1,2\r3,4", 2),  # a carriage return alone is no line end
        (b"\n1", 1),
    ],
)
def test_records_must_be_rectangular(body: bytes, columns: int) -> None:
    # GIVEN records of the wrong shape WHEN parsed natively THEN no answer
    assert parse(body, columns) is None


def test_line_ends_and_trailing_whitespace_are_the_careful_parsers() -> None:
    # GIVEN the same records with LF, CRLF, and trailing line ends, spaces and tabs
    bodies = [b"1,2\n3,4", b"1,2\r\n3,4\r\n", b"1,2\n3,4\n\n \t\r\n"]
    # WHEN parsed natively THEN each gives the same matrix, as parse_csv's careful path does
    for body in bodies:
        parsed = parse(body, 2)
        assert parsed is not None, body
        np.testing.assert_array_equal(parsed, [[1, 2], [3, 4]])
    # AND a body of only whitespace is left to the careful parser (which words the error)
    assert parse(b" \r\n\t", 1) is None


def test_empty_fields_are_missing_values() -> None:
    # GIVEN empty fields at the start, middle and end of records WHEN parsed natively
    parsed = parse(b",2,\n4,,6\n,,", 3)
    # THEN they are NaN and the rest are numbers
    assert parsed is not None
    np.testing.assert_array_equal(parsed, [[np.nan, 2, np.nan], [4, np.nan, 6], [np.nan, np.nan, np.nan]])


def test_a_thousand_rows_of_the_benchmarks_numbers() -> None:
    # GIVEN the serving benchmark's body: 1,000 rows of 20 numbers with six decimals, random signs
    rows = np.random.default_rng(3).normal(size=(1000, 20))
    text = "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows).encode()
    # WHEN parsed natively THEN every value is float()'s
    parsed = parse(text, 20)
    assert parsed is not None and parsed.shape == (1000, 20)
    expected = [[float(field) for field in line.split(b",")] for line in text.split(b"\n")]
    np.testing.assert_array_equal(parsed, expected)


class _Labels:
    """The two attributes of a Predictor that CSV formatting reads."""

    def __init__(self, labels: list[str]) -> None:
        self.class_label_bytes = np.array([label.encode() for label in labels], dtype=object)
        self.class_label_table = LabelTable.of([label.encode() for label in labels])


scores_strategy = st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(scores_strategy, st.sampled_from([np.float32, np.float64]), st.integers(0, 3))
def test_csv_lines_are_the_python_formatters(scores: list[float], dtype: type, classes: int) -> None:
    # GIVEN scores of a regression (no classes) or of 2-3 classes with labels of different lengths
    labels = ["0", "1", "long-label"][:classes] if classes >= 2 else []
    rng = np.random.default_rng(len(scores))
    index = rng.integers(0, len(labels), size=len(scores)) if labels else None
    predictions = Predictions(np.array(scores, dtype=dtype), index)
    predictor: Predictor = _Labels(labels)  # type: ignore[assignment]
    # WHEN formatted through C and in Python THEN the bytes are the same
    assert format_csv(predictions, predictor) == _format_csv_in_python(predictions, predictor)


def test_a_score_text_that_does_not_match_the_count_is_an_error() -> None:
    # GIVEN scores' text with two values where three are announced, or an empty value
    assert CODEC is not None
    for text in (b"0.5,0.25", b"0.5,,0.25", b"0.5,0.25,0.75,1"):
        # WHEN formatted THEN an error, never a short or padded response
        with pytest.raises(ValueError, match="do not match the scores"):
            CODEC.format(text, 3, None, None)


def test_a_label_index_outside_the_table_is_an_error() -> None:
    assert CODEC is not None
    with pytest.raises(ValueError, match="do not match the scores"):
        CODEC.format(b"0.5", 1, np.array([2]), LabelTable.of([b"a", b"b"]))


def test_without_the_library_csv_takes_the_python_code_with_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a body with plain numbers, empty fields and numbers only the careful parser reads, and scores
    body = b"1.5,-2,\n+3,.5,1e-400\n"
    predictions = Predictions(np.array([0.25, 0.5], dtype=np.float32), np.array([0, 1]))
    predictor: Predictor = _Labels(["no", "yes"])  # type: ignore[assignment]
    with_library = (codecs.parse_csv(body, 3), codecs.format_csv(predictions, predictor))
    # WHEN the library is missing (a checkout nobody built)
    monkeypatch.setattr(native_csv, "CODEC", None)
    without = (codecs.parse_csv(body, 3), codecs.format_csv(predictions, predictor))
    # THEN the same matrix and the same response
    np.testing.assert_array_equal(with_library[0], without[0])
    assert with_library[1] == without[1] == b"no,0.25\nyes,0.5\n"
