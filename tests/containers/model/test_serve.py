"""bin/serve as a real process on a loopback port, exercised over HTTP."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from esteira_model import codecs
from esteira_model.app import OFFLOAD_BYTES
from esteira_model.predictor import Predictor
from tests.containers.model.conftest import Server
from tests.containers.model.helpers import FEATURES, MLRoot, make_frame

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"


@contextmanager
def connection(server: Server) -> Iterator[http.client.HTTPConnection]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], bytes]:
    if conn is None:
        with connection(server) as own:
            return request(server, method, path, body, headers, own)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def invoke(server: Server, body: bytes, content_type: str, accept: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    status, _, payload = request(server, "POST", "/invocations", body, headers)
    return status, payload


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return make_frame(50, seed=21)[list(FEATURES)].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def predictor(trained_root: MLRoot) -> Predictor:
    return Predictor.load(trained_root.model_dir)


def csv_body(rows: np.ndarray) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def expected_csv(predictor: Predictor, rows: np.ndarray) -> bytes:
    return codecs.format_csv(predictor.predict(rows), predictor)


def expected_json(predictor: Predictor, rows: np.ndarray) -> list[dict[str, object]]:
    predictions = predictor.predict(rows)
    assert predictions.label_index is not None
    return [
        {"predicted_label": predictor.class_labels[i], "score": s}
        for i, s in zip(predictions.label_index.tolist(), predictions.scores.tolist(), strict=True)
    ]


def test_ping_and_execution_parameters(server: Server) -> None:
    # GIVEN a running server WHEN pinged and asked for execution parameters
    ping = request(server, "GET", "/ping")
    status, headers, body = request(server, "GET", "/execution-parameters")
    # THEN it is healthy and gives batch transform's hints
    assert ping[0] == 200
    assert status == 200 and headers["content-type"] == JSON
    assert json.loads(body) == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


def test_csv_in_csv_out_matches_in_process_predictions(server: Server, predictor: Predictor, rows: np.ndarray) -> None:
    # GIVEN 50 CSV records WHEN posted THEN one `label,score` line per record comes back, in order
    status, body = invoke(server, csv_body(rows), CSV, CSV)
    assert status == 200
    assert body == expected_csv(predictor, rows)
    assert body.count(b"\n") == len(rows)


def test_json_in_json_out_with_lists_and_objects(server: Server, predictor: Predictor, rows: np.ndarray) -> None:
    # GIVEN the same records as lists and as objects keyed by feature name
    as_lists = json.dumps({"instances": rows.tolist()}).encode()
    as_objects = json.dumps({"instances": [dict(zip(FEATURES, r, strict=True)) for r in rows.tolist()]}).encode()
    # WHEN posted as JSON
    responses = [invoke(server, body, JSON, JSON) for body in (as_lists, as_objects)]
    # THEN both give the in-process predictions in the seed's JSON shape
    for status, body in responses:
        assert status == 200
        assert json.loads(body) == {"predictions": expected_json(predictor, rows)}


def test_jsonlines_in_and_cross_formats(server: Server, predictor: Predictor, rows: np.ndarray) -> None:
    # GIVEN JSON lines records
    body = b"\n".join(json.dumps(r).encode() for r in rows.tolist()) + b"\n"
    # WHEN posted with each Accept type
    csv_status, csv_out = invoke(server, body, JSONLINES, CSV)
    json_status, json_out = invoke(server, body, JSONLINES, JSON)
    lines_status, lines_out = invoke(server, body, JSONLINES, None)
    # THEN the output follows Accept, defaulting to the request's type
    assert (csv_status, json_status, lines_status) == (200, 200, 200)
    assert csv_out == expected_csv(predictor, rows)
    assert json.loads(json_out)["predictions"] == expected_json(predictor, rows)
    assert [json.loads(line) for line in lines_out.splitlines()] == expected_json(predictor, rows)


def test_csv_in_json_out_and_missing_values(server: Server, predictor: Predictor, rows: np.ndarray) -> None:
    # GIVEN CSV with an empty field (a missing value) and CRLF line ends
    body = b"1.5,,0.25,-1,2,1\r\n" + csv_body(rows[:3]).replace(b"\n", b"\r\n")
    # WHEN posted asking for JSON
    status, out = invoke(server, body, "text/csv; charset=utf-8", "application/json; q=1.0")
    # THEN the missing value is passed to XGBoost as missing
    assert status == 200
    first = np.array([[1.5, np.nan, 0.25, -1, 2, 1]])
    assert json.loads(out)["predictions"] == expected_json(predictor, np.vstack([first, rows[:3]]))


@pytest.mark.parametrize(
    ("content_type", "body", "accept", "status", "message"),
    [
        ("text/plain", b"1,2,3,4,5,6", None, 415, "unsupported Content-Type"),
        ("application/x-parquet", b"PAR1", None, 415, "unsupported Content-Type"),
        (CSV, b"1,2,3\n", None, 400, "has 3 columns"),
        (CSV, b"1,2,3,4,5,6\n1,2,3,4,5\n", None, 400, "record 2 has 5 columns"),
        (CSV, b"1,2,abc,4,5,6\n", None, 400, "'abc' is not a number"),
        (CSV, b"1,2,3,4,5,inf\n", None, 400, "infinite"),
        (CSV, b"", None, 400, "empty body"),
        (CSV, b"\n\n", None, 400, "empty body"),
        (CSV, b"1,2,3,4,5,6\n\n1,2,3,4,5,6\n", None, 400, "record 2 is an empty line"),
        (JSON, b"{not json", None, 400, "malformed JSON"),
        (JSON, b"", None, 400, "empty body"),
        (JSON, b'{"instances": []}', None, 400, "empty"),
        (JSON, b'{"rows": [[1,2,3,4,5,6]]}', None, 400, "instances"),
        (JSON, b'{"instances": [[1,2,3]]}', None, 400, "has 3 values"),
        (JSON, b'{"instances": [[1,2,"x",4,5,6]]}', None, 400, "'x' is not a number"),
        (JSON, b'{"instances": [{"f0": 1}]}', None, 400, "lacks features"),
        (JSONLINES, b"[1,2,3,4,5,6]\n{oops\n", None, 400, "record 2 is malformed JSON"),
        (CSV, b"1,2,3,4,5,6\n", "image/png", 406, "Accept"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(
    server: Server, content_type: str, body: bytes, accept: str | None, status: int, message: str
) -> None:
    # GIVEN a bad request WHEN posted THEN the status says what kind and the body says why
    got_status, got_body = invoke(server, body, content_type, accept)
    assert got_status == status
    assert message in got_body.decode()


def test_payload_over_limit_is_413_and_server_stays_up(server: Server) -> None:
    # GIVEN a body just over 6 MB
    body = b"1,2,3,4,5,6\n" * (6 * 1024 * 1024 // 12 + 1)
    assert len(body) > 6 * 1024 * 1024
    # WHEN posted
    status, out = invoke(server, body, CSV)
    # THEN 413, and the server still answers
    assert status == 413
    assert b"6 MB" in out
    assert request(server, "GET", "/ping")[0] == 200


def test_wrong_method_and_unknown_path(server: Server) -> None:
    # GIVEN a running server WHEN used wrongly THEN it says so without a 5xx
    assert request(server, "GET", "/invocations")[0] == 405
    assert request(server, "GET", "/nope")[0] == 404


def test_eight_concurrent_clients_get_their_own_answers(server: Server, predictor: Predictor, rows: np.ndarray) -> None:
    # GIVEN 8 clients on persistent connections, each with its own rows and formats
    errors: list[str] = []

    def client(index: int) -> None:
        own = np.roll(rows, index, axis=0)[: 5 + index]
        with connection(server) as conn:
            for round_ in range(15):
                single = own[round_ % len(own) : round_ % len(own) + 1]
                status, _, body = request(server, "POST", "/invocations", csv_body(single), {"Content-Type": CSV}, conn)
                if status != 200 or body != expected_csv(predictor, single):
                    errors.append(f"client {index} single row {round_}: {status} {body!r}")
                payload = json.dumps({"instances": own.tolist()}).encode()
                status, _, body = request(
                    server, "POST", "/invocations", payload, {"Content-Type": JSON, "Accept": JSON}, conn
                )
                if status != 200 or json.loads(body)["predictions"] != expected_json(predictor, own):
                    errors.append(f"client {index} batch {round_}: {status}")

    # WHEN they all post at once
    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # THEN every answer equals the in-process prediction for that client's rows
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def test_concurrent_batch_bodies_big_enough_for_the_thread_pool_get_their_own_answers(
    server: Server, predictor: Predictor
) -> None:
    # GIVEN 4 clients, each with its own batch body over the size uvicorn's workers hand to their thread pool
    batches = [make_frame(400, seed=40 + i)[list(FEATURES)].to_numpy(dtype=np.float64) for i in range(4)]
    bodies = [csv_body(batch) for batch in batches]
    assert min(len(body) for body in bodies) >= OFFLOAD_BYTES
    errors: list[str] = []

    def client(index: int) -> None:
        with connection(server) as conn:
            for round_ in range(6):
                status, _, body = request(server, "POST", "/invocations", bodies[index], {"Content-Type": CSV}, conn)
                if status != 200 or body != expected_csv(predictor, batches[index]):
                    errors.append(f"client {index} batch {round_}: {status} {body[:80]!r}")

    # WHEN they post at once, on persistent connections
    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # THEN each gets the in-process prediction of its own rows
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
