"""The local API Gateway stand-in over real loopback HTTP, with a stand-in handler defined here.

The real ingest handler behind the same endpoint is tested in tests/integration and tests/e2e.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import zlib

import pytest

from featurepulse.ingest.limits import MAX_REQUEST_BYTES
from featurepulse.local.endpoint import MAX_PAYLOAD_BYTES, LocalApiEndpoint


class RecordingHandler:
    """Echoes what it was given; raises for the path /boom."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.contexts: list[object] = []
        self.lock = threading.Lock()

    def __call__(self, event, context):
        with self.lock:
            self.events.append(event)
            self.contexts.append(context)
        if event["path"] == "/v1/boom":
            raise RuntimeError("handler bug")
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"path": event["path"], "body": event["body"]}),
            "isBase64Encoded": False,
        }


@pytest.fixture
def served():
    handler = RecordingHandler()
    endpoint = LocalApiEndpoint(handler)
    endpoint.start()
    try:
        yield endpoint, handler
    finally:
        endpoint.stop()


def _request(endpoint, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_a_request_reaches_the_handler_as_a_proxy_event_and_its_answer_comes_back(served):
    # Given the endpoint serving a handler
    endpoint, handler = served
    # When a client posts a batch
    status, headers, body = _request(
        endpoint, "POST", "/v1/batch", b'{"batch": []}', {"Content-Type": "application/json"}
    )
    # Then the handler got the REST proxy event and the client got the handler's answer
    assert status == 200
    assert json.loads(body) == {"path": "/v1/batch", "body": '{"batch": []}'}
    assert headers["Content-Type"] == "application/json"
    event = handler.events[0]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert headers["x-amzn-RequestId"] == event["requestContext"]["requestId"]
    assert handler.contexts[0].aws_request_id == event["requestContext"]["requestId"]


def test_a_gzip_body_is_decompressed_before_the_handler_sees_it(served):
    endpoint, handler = served
    payload = b'{"batch": [{"type": "track", "event": "Feature Viewed"}]}'
    status, _, _ = _request(endpoint, "POST", "/v1/batch", gzip.compress(payload), {"Content-Encoding": "gzip"})
    assert status == 200
    assert handler.events[0]["body"] == payload.decode()
    assert handler.events[0]["headers"]["Content-Encoding"] == "gzip"


def test_a_body_that_is_not_the_gzip_it_claims_is_refused_with_415_without_calling_the_handler(served):
    endpoint, handler = served
    status, _, body = _request(endpoint, "POST", "/v1/batch", b"{}", {"Content-Encoding": "gzip"})
    assert status == 415
    assert json.loads(body) == {"message": "Unsupported Media Type"}
    assert handler.events == []


def _gzip_bomb(inflated_bytes: int) -> bytes:
    """A gzip body of zeros: a few hundred KB that inflate to `inflated_bytes`."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(inflated_bytes // len(block))]
    return b"".join(parts) + compressor.flush()


def test_a_gzip_body_that_inflates_past_the_request_limit_gets_413_with_a_reason_without_calling_the_handler(served):
    # Given a ~100 KB gzip body that would inflate to 100 MB
    endpoint, handler = served
    bomb = _gzip_bomb(100 << 20)
    assert len(bomb) < MAX_REQUEST_BYTES
    # When it is posted
    status, _, body = _request(endpoint, "POST", "/v1/batch", bomb, {"Content-Encoding": "gzip"})
    # Then the endpoint answers the handler's 413 with its reason, and the handler is never called
    assert status == 413
    answer = json.loads(body)
    assert answer["code"] == "request_too_large" and str(MAX_REQUEST_BYTES) in answer["message"]
    assert handler.events == []


def test_every_member_of_a_multi_member_gzip_body_reaches_the_handler(served):
    # Given a body of two gzip members (what `cat a.gz b.gz` or a streaming client produces)
    endpoint, handler = served
    first, second = b'{"batch": [{"type": "track", ', b'"event": "Feature Viewed"}]}'
    body = gzip.compress(first) + gzip.compress(second)
    # When it is posted
    status, _, _ = _request(endpoint, "POST", "/v1/batch", body, {"Content-Encoding": "gzip"})
    # Then the handler sees the whole body, both members inflated
    assert status == 200
    assert handler.events[0]["body"] == (first + second).decode()


@pytest.mark.parametrize("length", ["-5", "-1", "five", "1e3", "+3"])
def test_a_content_length_that_is_not_a_non_negative_integer_gets_400_and_the_endpoint_keeps_serving(served, length):
    # Given a request whose Content-Length is negative or not a number, on a connection the client keeps open
    endpoint, handler = served
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as client:
        client.sendall(f"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
        # When the endpoint reads it
        answer = client.recv(65_536)
    # Then it answers 400 at once (a read of a negative length would wait for the client to hang up)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert handler.events == []
    # And the next request is served
    assert _request(endpoint, "POST", "/v1/batch", b"{}")[0] == 200


def test_a_payload_over_the_gateway_quota_is_refused_with_413_without_calling_the_handler(served):
    endpoint, handler = served
    status, _, _ = _request(endpoint, "POST", "/v1/batch", b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert status == 413
    assert handler.events == []


def test_a_handler_crash_is_a_502_without_a_stack_trace(served):
    endpoint, _ = served
    status, _, body = _request(endpoint, "POST", "/v1/boom", b"{}")
    assert status == 502
    assert json.loads(body) == {"message": "Internal server error"}
    assert b"Traceback" not in body
    assert endpoint.failures == 1


def test_a_chunked_body_is_reassembled(served):
    # Given a client that streams its body with chunked transfer encoding
    endpoint, handler = served
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    try:
        conn.request("POST", "/v1/track", body=iter([b'{"type": ', b'"track"}']), encode_chunked=True)
        status = conn.getresponse().status
    finally:
        conn.close()
    # Then the handler sees the whole body
    assert status == 200
    assert handler.events[0]["body"] == '{"type": "track"}'


def test_keep_alive_connections_serve_several_requests(served):
    endpoint, handler = served
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    try:
        for i in range(3):
            conn.request("POST", "/v1/track", body=json.dumps({"i": i}).encode())
            response = conn.getresponse()
            assert response.status == 200
            response.read()
    finally:
        conn.close()
    assert len(handler.events) == 3


def test_stop_closes_the_port_and_is_safe_twice():
    endpoint = LocalApiEndpoint(RecordingHandler())
    endpoint.start()
    port = endpoint.port
    endpoint.stop()
    endpoint.stop()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/track"), ("GET", "/"), ("POST", "/openapi.json"), ("POST", "/v1/")]
)
def test_a_request_outside_the_apis_resources_gets_the_gateways_403_without_calling_the_handler(served, method, path):
    # Given the API's resources are ANY /v1/{proxy+} and GET /openapi.json
    endpoint, handler = served
    # When a client calls something else
    status, _, body = _request(endpoint, method, path, b"{}")
    # Then the gateway answers, as API Gateway does
    assert status == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert handler.events == []


def test_a_cors_preflight_is_answered_by_the_gateway(served):
    endpoint, handler = served
    status, headers, _ = _request(
        endpoint,
        "OPTIONS",
        "/v1/batch",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert handler.events == []


def test_the_openapi_document_route_reaches_the_handler_with_its_resource(served):
    endpoint, handler = served
    status, _, _ = _request(endpoint, "GET", "/openapi.json")
    assert status == 200
    assert handler.events[0]["resource"] == "/openapi.json"
    assert handler.events[0]["pathParameters"] is None
