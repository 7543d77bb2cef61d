"""In-process checks of the CSV fast path against the careful parser, and of CSV output."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esteira_model.codecs import BadRequest, _parse_csv_careful, choose_accept, format_csv, parse_csv
from esteira_model.predictor import Predictions

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
csv_field = st.one_of(
    st.floats(width=64).map(repr),
    st.floats(width=32).map(lambda v: f"{v:g}"),
    st.integers(-(10**25), 10**25).map(str),
    st.text(alphabet="0123456789.-+eE \t[],", max_size=6),
    st.sampled_from(["", " ", "1e999", "1e-999", "+1", ".5", "5.", "-0", "007", "-7e-300", "18446744073709551617"]),
)


def _outcome(body: bytes, num_features: int) -> tuple[str, object]:
    try:
        return "ok", parse_csv(body, num_features)
    except BadRequest as err:
        return "400", err.message


def _careful_outcome(body: bytes, num_features: int) -> tuple[str, object]:
    text = body.rstrip(b"\r\n\t ").replace(b"\r\n", b"\n")
    if not text:
        return "400", "empty body: send one CSV record per line"
    try:
        return "ok", _parse_csv_careful(text.split(b"\n"), num_features)
    except BadRequest as err:
        return "400", err.message


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=20), st.sampled_from(["\n", "\r\n"]))
def test_fast_path_equals_careful_parse(rows: list[list[float]], newline: str) -> None:
    # GIVEN any finite numbers written as CSV with repr, %g or integer-looking text
    text = newline.join(",".join(repr(v) if i % 2 else f"{v:g}" for i, v in enumerate(r)) for r in rows)
    body = (text + newline).encode()
    lines = body.rstrip(b"\r\n").replace(b"\r\n", b"\n").split(b"\n")
    # WHEN parsed by both paths THEN the matrices are identical
    np.testing.assert_array_equal(parse_csv(body, 3), _parse_csv_careful(lines, 3))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=4),
    st.lists(st.lists(csv_field, min_size=1, max_size=5), min_size=1, max_size=5),
    st.sampled_from(["\n", "\r\n"]),
)
def test_any_body_gets_the_careful_parsers_answer(num_features: int, rows: list[list[str]], newline: str) -> None:
    # GIVEN any CSV-ish body: ragged lines, odd numbers, brackets, a value once used as a row-end sentinel
    body = newline.join(",".join(row) for row in rows).encode()
    # WHEN parsed by parse_csv and by the careful parser alone
    fast, careful = _outcome(body, num_features), _careful_outcome(body, num_features)
    # THEN both accept with identical matrices, or both refuse with the same message
    assert fast[0] == careful[0], (body, fast, careful)
    if fast[0] == "ok":
        np.testing.assert_array_equal(fast[1], careful[1])
    else:
        assert fast[1] == careful[1]


@pytest.mark.parametrize(
    ("body", "num_features", "message"),
    [
        (b"1,2\n3,4,5,6\n", 3, "record 1 has 2 columns"),  # one column short, one too many: same total
        (b"1,2,-7e-300,3,4\n", 2, "record 1 has 5 columns"),  # a field equal to the old parser's row-end sentinel
        (b"[1,2],3\n", 3, "'[1' is not a number"),  # brackets, which a JSON-based parser would flatten
        (b"1,true,3\n", 3, "'true' is not a number"),
    ],
)
def test_fast_path_cannot_be_fooled_into_accepting(body: bytes, num_features: int, message: str) -> None:
    # GIVEN a body whose numbers would line up if only totals were checked WHEN parsed THEN it is refused
    with pytest.raises(BadRequest, match=re.escape(message)):
        parse_csv(body, num_features)


def test_the_sentinel_value_itself_is_an_ordinary_feature() -> None:
    # GIVEN records whose fields equal the row-end sentinel the simdjson parser used WHEN parsed THEN they are values
    parsed = parse_csv(b"-7e-300,1\n2,-7e-300\n", 2)
    np.testing.assert_array_equal(parsed, [[-7e-300, 1], [2, -7e-300]])


def test_csv_scores_read_back_as_the_models_float32() -> None:
    # GIVEN float32 scores, tiny, large and non-finite ones included
    scores = np.array([0.8235997557640076, 1e-8, 0.5, 1.0, 123456789.0, np.nan, np.inf], dtype=np.float32)
    predictions = Predictions(scores, None)
    # WHEN written as CSV (regression: the label is the score)
    lines = format_csv(predictions, None).decode().splitlines()  # type: ignore[arg-type]
    # THEN one line per score, and each text reads back as exactly that float32
    assert len(lines) == len(scores)
    for line, score in zip(lines, scores, strict=True):
        label, text = line.split(",")
        assert label == text
        np.testing.assert_array_equal(np.float32(float(text)), score)


def test_careful_path_handles_what_json_does_not() -> None:
    # GIVEN numbers JSON rejects but CSV writers produce WHEN parsed THEN they are numbers or missing
    parsed = parse_csv(b"+1,.5,5.\n1e3, 2 ,\nnan,-0,007\n", 3)
    np.testing.assert_array_equal(parsed, [[1, 0.5, 5], [1000, 2, np.nan], [np.nan, 0, 7]])


def test_literal_true_is_not_a_number() -> None:
    # GIVEN a JSON literal in a CSV body WHEN parsed THEN it is rejected, not read as 1
    with pytest.raises(BadRequest, match="'true' is not a number"):
        parse_csv(b"1,true,3\n", 3)


@pytest.mark.parametrize(
    ("accept", "content_type", "expected"),
    [
        (None, "text/csv", "text/csv"),
        ("*/*", "application/json", "application/json"),
        ("image/png, application/json;q=0.5", "text/csv", "application/json"),
        ("text/*", "application/json", "text/csv"),
        ("image/png", "text/csv", None),
    ],
)
def test_accept_negotiation(accept: str | None, content_type: str, expected: str | None) -> None:
    # GIVEN an Accept header WHEN negotiated THEN the first supported type wins
    assert choose_accept(accept, content_type) == expected
