"""The local AWS server keeps connections open and never mistakes a request body for the next request."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from pipeline.moto_http import MotoHTTPServer
from pipeline.processes import free_port


def _authorization(service: str) -> str:  # moto reads the service from the credential scope; it checks no signature
    return f"AWS4-HMAC-SHA256 Credential=t/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"


SQS_HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "AmazonSQS.ListQueues",
    "Authorization": _authorization("sqs"),
}
S3_HEADERS = {
    "Authorization": _authorization("s3"),
    "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[MotoHTTPServer, str]]:
    port = free_port()
    running = MotoHTTPServer(port)
    running.start()
    try:
        yield running, f"http://127.0.0.1:{port}"
    finally:
        running.stop()


@pytest.fixture(scope="module")
def s3(server: tuple[MotoHTTPServer, str]) -> Any:
    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    client = session.client("s3", endpoint_url=server[1])
    client.create_bucket(Bucket="keepalive")
    return client


def connect(server: tuple[MotoHTTPServer, str]) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", int(server[1].rsplit(":", 1)[1]), timeout=10)


def list_queues(connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
    connection.request("POST", "/", body=json.dumps({"QueueNamePrefix": ""}), headers=SQS_HEADERS)
    return connection.getresponse()


def is_list_queues_answer(answer: object) -> bool:
    # Other tests in this process may have made queues: moto's state is per process.
    return isinstance(answer, dict) and set(answer) <= {"QueueUrls"}


def test_requests_share_one_connection(server: tuple[MotoHTTPServer, str]) -> None:
    # GIVEN one HTTP/1.1 connection
    connection = connect(server)
    # WHEN three API calls go over it
    answers = []
    sockets = set()
    for _ in range(3):
        response = list_queues(connection)
        answers.append((response.status, response.getheader("Connection"), json.loads(response.read())))
        sockets.add(id(connection.sock))
    # THEN each is answered, none closes the connection, and it is the same socket throughout
    assert [(status, connection_header) for status, connection_header, _ in answers] == [(200, None)] * 3
    assert all(is_list_queues_answer(answer) for _, _, answer in answers)
    assert len(sockets) == 1 and connection.sock is not None


def test_a_body_the_app_ignores_does_not_become_the_next_request(server: tuple[MotoHTTPServer, str]) -> None:
    # GIVEN a request with a body that no route reads (moto's dashboard page is a GET)
    connection = connect(server)
    ignored = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" * 3
    connection.request("GET", "/moto-api/", body=ignored, headers={"Content-Type": "text/plain"})
    first = connection.getresponse()
    first.read()
    # WHEN the next request follows on the same connection
    second = list_queues(connection)
    # THEN it is answered as itself, not as the previous body
    assert first.status == 200
    assert second.status == 200 and is_list_queues_answer(json.loads(second.read()))


def test_head_answers_the_object_size_without_a_body(server: tuple[MotoHTTPServer, str], s3: Any) -> None:
    # GIVEN an object of 5 bytes
    s3.put_object(Bucket="keepalive", Key="five", Body=b"12345")
    connection = connect(server)
    # WHEN it is asked for with HEAD, then read with GET on the same connection
    connection.request("HEAD", "/keepalive/five", headers=S3_HEADERS)
    head = connection.getresponse()
    head.read()
    connection.request("GET", "/keepalive/five", headers=S3_HEADERS)
    get = connection.getresponse()
    # THEN HEAD gives the object's length and no body, and the GET that follows reads the object
    assert (head.status, head.getheader("Content-Length")) == (200, "5")
    assert (get.status, get.read()) == (200, b"12345")


def test_a_chunked_upload_is_read_whole(server: tuple[MotoHTTPServer, str], s3: Any) -> None:
    # GIVEN a PUT whose body arrives in chunks of unknown total length
    connection = connect(server)
    chunks = [b"a" * 1000, b"b" * 10, b"c"]
    connection.request("PUT", "/keepalive/chunked", body=iter(chunks), headers=S3_HEADERS, encode_chunked=True)
    put = connection.getresponse()
    put.read()
    # WHEN the connection carries on with another call
    after = list_queues(connection)
    # THEN the object holds every chunk and the next call is answered
    assert put.status == 200
    assert s3.get_object(Bucket="keepalive", Key="chunked")["Body"].read() == b"".join(chunks)
    assert after.status == 200


def test_boto3_multipart_upload_round_trips(s3: Any, tmp_path: Any) -> None:
    # GIVEN a 12 MB file (boto3 uploads it in parts, each with Expect: 100-continue)
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * (12 * 4096))
    # WHEN it is uploaded and downloaded
    s3.upload_file(str(source), "keepalive", "big.bin")
    target = tmp_path / "back.bin"
    s3.download_file("keepalive", "big.bin", str(target))
    # THEN the bytes are the same
    assert target.read_bytes() == source.read_bytes()


def test_a_client_that_asks_to_close_gets_closed(server: tuple[MotoHTTPServer, str]) -> None:
    # GIVEN a request that says Connection: close
    port = int(server[1].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # WHEN the answer is read to its end
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    # THEN the server answered, said so, and closed (recv returned end of stream)
    head = received.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head


@pytest.mark.parametrize("length", ["abc", "-5", "1e3"])
def test_an_invalid_content_length_is_a_400_and_closes_the_connection(
    server: tuple[MotoHTTPServer, str], length: str
) -> None:
    # GIVEN a request whose Content-Length is not a number of bytes
    port = int(server[1].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nbody".encode())
        # WHEN the answer is read to its end
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    # THEN it is a 400 that says why, and the server closed the connection (recv returned end of stream)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"Connection: close" in head
    assert body == b"invalid Content-Length"


def test_an_error_inside_moto_is_a_500_and_closes_the_connection(server: tuple[MotoHTTPServer, str]) -> None:
    # GIVEN an app that raises
    running, _ = server
    original = running._server.app

    def broken(environ: dict[str, Any], start_response: Any) -> Any:
        raise RuntimeError("boom")

    running._server.app = broken
    try:
        connection = connect(server)
        # WHEN a request comes in
        response = list_queues(connection)
        body = response.read()
    finally:
        running._server.app = original
    # THEN the client gets a 500 with a message, and the connection is closed
    assert response.status == 500
    assert b"internal error" in body
    assert response.getheader("Connection") == "close"
