"""Fan-out's transform output lines (``batch/fanout/records.py``): parsing a prediction, and splitting a stream
into lines with exact offsets and bounded memory."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch.fanout.records import MalformedLineError, Prediction, Reason, iter_lines, parse_line


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"a,1", Reason.FIELD_COUNT),
        (b"a,1,0.5,x", Reason.FIELD_COUNT),
        (b",1,0.5", Reason.INVALID_RECORD_ID),
        (b"a b,1,0.5", Reason.INVALID_RECORD_ID),
        (b"x" * 129 + b",1,0.5", Reason.INVALID_RECORD_ID),
        (b"a,,0.5", Reason.INVALID_LABEL),
        (b"a,1,", Reason.INVALID_SCORE),
        (b"a,1,inf", Reason.INVALID_SCORE),
        (b"a,1,abc", Reason.INVALID_SCORE),
        (b'"a,1,0.5', Reason.BAD_CSV),
        (b"caf\xe9,1,0.5", Reason.NOT_UTF8),
    ],
)
def test_malformed_lines_have_a_reason(line: bytes, reason: Reason) -> None:
    # GIVEN a malformed output line WHEN parsed THEN it is refused with its reason
    with pytest.raises(MalformedLineError) as info:
        parse_line(line)
    assert info.value.reason is reason


def test_valid_and_blank_lines() -> None:
    # GIVEN well-formed, quoted, CRLF-terminated and blank lines WHEN parsed THEN values (or None) come out
    assert parse_line(b"cust-1,1,0.93\r") == Prediction("cust-1", "1", 0.93)
    assert parse_line(b'"cust-2","yes","1e-3"') == Prediction("cust-2", "yes", 0.001)
    assert parse_line(b"   ") is None


@settings(max_examples=200, deadline=None)
@given(
    record=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128),
    label=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40).filter(
        lambda s: s.strip() == s and s != ""
    ),
    score=st.floats(allow_nan=False, allow_infinity=False),
)
def test_any_valid_prediction_round_trips_through_csv(record: str, label: str, score: float) -> None:
    # GIVEN any valid prediction written as a CSV line (quoted as csv does)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([record, label, repr(score)])
    # WHEN parsed THEN the same values come back
    assert parse_line(buffer.getvalue().encode()) == Prediction(record, label, score)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=400).map(lambda b: b.replace(b"\r", b"")),
    chunk=st.integers(min_value=1, max_value=50),
    start=st.integers(min_value=0, max_value=400),
)
def test_line_splitter_matches_split_with_exact_offsets(data: bytes, chunk: int, start: int) -> None:
    # GIVEN any bytes read from any offset in chunks of any size
    start = min(start, len(data))
    chunks = [data[i : i + chunk] for i in range(start, len(data), chunk)]
    # WHEN split into lines
    lines = list(iter_lines(chunks, offset=start, max_line=1_000))
    # THEN lines equal bytes.split (minus a trailing empty piece) and each offset points past its line
    expected = data[start:].split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [line for line, _ in lines] == expected
    previous = start
    for line_bytes, end in lines:
        assert line_bytes is not None
        assert data[previous:end] in (line_bytes + b"\n", line_bytes)
        previous = end
    assert previous == len(data)


def test_overlong_line_is_flagged_with_bounded_memory() -> None:
    # GIVEN a 1 MB line between two short ones, delivered in 4 KB chunks
    data = b"a,1,0.1\n" + b"x" * 1_000_000 + b"\nb,0,0.2"
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    # WHEN split with a 64 KB line limit THEN the long line is None and offsets stay exact
    assert list(iter_lines(chunks, max_line=65_536)) == [
        (b"a,1,0.1", 8),
        (None, 1_000_009),
        (b"b,0,0.2", len(data)),
    ]
