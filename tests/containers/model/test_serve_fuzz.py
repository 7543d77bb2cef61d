"""Property-based fuzz of /invocations: no body or header makes a 5xx or kills a worker."""

from __future__ import annotations

import http.client
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.containers.model.conftest import Server

CONTENT_TYPES = [
    "text/csv",
    "text/csv; charset=utf-8",
    "application/json",
    "application/jsonlines",
    "application/x-jsonlines",
    "TEXT/CSV",
    "application/x-parquet",
    "",
    "multipart/form-data; boundary=x",
]
ACCEPTS = ["text/csv", "application/json", "application/jsonlines", "*/*", "text/*", "image/png", "", "x;q=0"]

header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
csv_field = st.one_of(numbers.map(str), st.sampled_from(["", " ", "1e999", "+1", ".5", "5.", "0x10", "nan", '"1"']))
csv_body = st.lists(st.lists(csv_field, min_size=0, max_size=8).map(",".join), min_size=0, max_size=6).map(
    lambda lines: "\n".join(lines).encode()
)
json_value = st.recursive(
    numbers,
    lambda inner: st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=3), inner, max_size=7),
    max_leaves=30,
)
json_body = st.one_of(
    st.lists(json_value, max_size=4).map(lambda rows: json.dumps({"instances": rows}).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
)
jsonlines_body = st.lists(json_value, max_size=4).map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode())
bodies = st.one_of(st.binary(max_size=300), csv_body, json_body, jsonlines_body)


class Client:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=30)

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        for attempt in range(2):
            try:
                self.conn.request("POST", "/invocations", body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _booted_workers(server: Server) -> int:
    # Every worker process prints this once it has loaded the model; a restarted worker prints it again.
    return len(re.findall(r"Model loaded", server.log_text()))


def test_fuzzed_invocations_never_5xx(server: Server) -> None:
    # GIVEN a running server and its worker count
    client = Client(server)
    workers_before = _booted_workers(server)
    assert workers_before == 2
    statuses: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        body=bodies,
        content_type=st.one_of(st.sampled_from(CONTENT_TYPES), header_text),
        accept=st.one_of(st.none(), st.sampled_from(ACCEPTS), header_text),
    )
    def post_anything(body: bytes, content_type: str, accept: str | None) -> None:
        headers = {"Content-Type": content_type}
        if accept is not None:
            headers["Accept"] = accept
        # WHEN any body with any content type and accept header is posted
        status = client.post(body, headers)
        statuses.append(status)
        # THEN the answer is never a server error
        assert status < 500, (status, body[:200], headers)

    try:
        post_anything()
    finally:
        client.conn.close()

    # AND the server is still healthy, with no worker restarted
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", "/ping")
    assert conn.getresponse().status == 200
    conn.close()
    assert _booted_workers(server) == workers_before
    assert "Traceback" not in server.log_text()
    assert {400, 415} <= set(statuses)
