"""In-process checks of the CSV fast path against the careful parser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esteira_model.codecs import BadRequest, _parse_csv_careful, choose_accept, parse_csv

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=20), st.sampled_from(["\n", "\r\n"]))
def test_fast_path_equals_careful_parse(rows: list[list[float]], newline: str) -> None:
    # GIVEN any finite numbers written as CSV with repr, %g or integer-looking text
    text = newline.join(",".join(repr(v) if i % 2 else f"{v:g}" for i, v in enumerate(r)) for r in rows)
    body = (text + newline).encode()
    lines = body.rstrip(b"\r\n").replace(b"\r\n", b"\n").split(b"\n")
    # WHEN parsed by both paths THEN the matrices are identical
    np.testing.assert_array_equal(parse_csv(body, 3), _parse_csv_careful(lines, 3))


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
