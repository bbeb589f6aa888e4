"""The local API Gateway stand-in: HTTP request -> REST proxy event, proxy response -> HTTP answer."""

from __future__ import annotations

import base64
import gzip
import zlib
from datetime import UTC, datetime

import pytest

from featurepulse.local.endpoint import (
    DEFAULT_ROUTES,
    InflatedBodyTooLargeError,
    LocalLambdaContext,
    UnsupportedContentEncodingError,
    build_proxy_event,
    decode_content,
    match_route,
    parse_proxy_response,
)

RECEIVED_AT = datetime(2026, 11, 25, 14, 3, 7, 250_000, tzinfo=UTC)


def _event(**overrides):
    args = {
        "resource": "/v1/{proxy+}",
        "path_parameters": {"proxy": "batch"},
        "method": "POST",
        "target": "/v1/batch",
        "headers": [("Content-Type", "application/json"), ("Authorization", "Basic a2V5Og==")],
        "body": b'{"batch": []}',
        "source_ip": "127.0.0.1",
        "request_id": "req-1",
        "received_at": RECEIVED_AT,
        "host": "127.0.0.1:8787",
    }
    args.update(overrides)
    return build_proxy_event(**args)


def test_a_post_becomes_a_rest_proxy_event_with_path_method_body_and_request_context():
    # Given a Segment batch POST
    # When it is converted
    event = _event()
    # Then the event has the fields of API Gateway's REST proxy format 1.0
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/v1/batch"
    assert event["body"] == '{"batch": []}'
    assert event["isBase64Encoded"] is False
    assert event["resource"] == "/v1/{proxy+}"
    assert event["pathParameters"] == {"proxy": "batch"}
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    ctx = event["requestContext"]
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["requestId"] == "req-1"
    assert ctx["requestTimeEpoch"] == 1795615387250
    assert ctx["requestTime"] == "25/Nov/2026:14:03:07 +0000"
    assert ctx["stage"] == "local"
    assert ctx["path"] == "/local/v1/batch"
    assert ctx["httpMethod"] == "POST"
    assert ctx["resourcePath"] == "/v1/{proxy+}"


def test_headers_keep_client_case_and_repeated_headers_appear_in_multi_value_headers():
    # Given a request with a repeated header
    headers = [("Content-Type", "application/json"), ("X-Tag", "a"), ("X-Tag", "b"), ("User-Agent", "sdk/1")]
    # When it is converted
    event = _event(headers=headers)
    # Then the single-value map holds the last value and the multi-value map all of them
    assert event["headers"]["X-Tag"] == "b"
    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["requestContext"]["identity"]["userAgent"] == "sdk/1"


def test_x_forwarded_for_gets_the_peer_appended_like_api_gateway():
    # Given a client that already sent X-Forwarded-For (a proxy in front of it)
    event = _event(headers=[("x-forwarded-for", "203.0.113.9")], source_ip="10.1.2.3")
    # Then the peer is appended and sourceIp is the peer
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.9, 10.1.2.3"
    assert event["requestContext"]["identity"]["sourceIp"] == "10.1.2.3"


def test_query_string_is_parsed_into_single_and_multi_value_maps():
    event = _event(method="GET", target="/openapi.json?x=1&x=2&y=", body=b"")
    assert event["path"] == "/openapi.json"
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["body"] is None


def test_a_body_that_is_not_utf8_reaches_the_handler_base64_encoded():
    raw = b"\xff\xfe\x00binary"
    event = _event(body=raw)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda b: b), (None, lambda b: b)],
)
def test_supported_content_codings_are_decoded(encoding, encode):
    # Given a JSON body sent with a content coding
    body = b'{"batch": [{"type": "track"}]}'
    # When the endpoint decodes it
    # Then the handler sees the plain JSON
    assert decode_content(encode(body), encoding) == body


def test_a_body_that_does_not_match_its_content_encoding_is_refused():
    with pytest.raises(UnsupportedContentEncodingError):
        decode_content(b'{"not": "gzip"}', "gzip")


@pytest.mark.parametrize(("encoding", "encode"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_inflation_stops_at_the_limit(encoding, encode):
    # Given a body that inflates to one byte more than the limit, and one that inflates to exactly the limit
    limit = 10_000
    # Then the first is refused as too large, the second decoded
    with pytest.raises(InflatedBodyTooLargeError):
        decode_content(encode(b"x" * (limit + 1)), encoding, limit=limit)
    assert decode_content(encode(b"x" * limit), encoding, limit=limit) == b"x" * limit


def test_every_gzip_member_is_inflated_within_the_limit_and_trailing_padding_ignored():
    # Given three gzip members, then NUL padding
    body = gzip.compress(b"a" * 40) + gzip.compress(b"b" * 40) + gzip.compress(b"c" * 40) + b"\0" * 8
    # Then all are inflated
    assert decode_content(body, "gzip") == b"a" * 40 + b"b" * 40 + b"c" * 40
    # And the limit holds over the members together, not per member
    with pytest.raises(InflatedBodyTooLargeError):
        decode_content(body, "gzip", limit=100)


def test_a_truncated_or_garbage_followed_gzip_body_is_refused():
    whole = gzip.compress(b"x" * 1000)
    with pytest.raises(UnsupportedContentEncodingError, match="truncated"):
        decode_content(whole[:-10], "gzip")
    with pytest.raises(UnsupportedContentEncodingError):
        decode_content(whole + b"not gzip", "gzip")


def test_an_unknown_content_coding_is_refused():
    with pytest.raises(UnsupportedContentEncodingError):
        decode_content(b"...", "br")


def test_proxy_response_headers_and_multi_value_headers_are_merged():
    # Given a handler answer with both header maps
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-One": "1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "x-one": ["multi"]},
        "body": '{"success": true}',
        "isBase64Encoded": False,
    }
    # When it is turned into the HTTP answer
    response = parse_proxy_response(result)
    # Then multi-value headers win over single ones of the same name, and the body is the text
    assert response.status == 200
    assert ("Set-Cookie", "a=1") in response.headers
    assert ("Set-Cookie", "b=2") in response.headers
    assert ("x-one", "multi") in response.headers
    assert ("X-One", "1") not in response.headers
    assert response.body == b'{"success": true}'


def test_a_base64_proxy_body_is_decoded():
    response = parse_proxy_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize(
    "result", [None, "text", {"body": "x"}, {"statusCode": "200"}, {"statusCode": 200, "headers": []}]
)
def test_a_malformed_proxy_response_is_a_502_like_api_gateway(result):
    response = parse_proxy_response(result)
    assert response.status == 502
    assert b"Internal server error" in response.body


def test_the_lambda_context_counts_down_from_the_integration_timeout():
    context = LocalLambdaContext(aws_request_id="r")
    remaining = context.get_remaining_time_in_millis()
    assert 0 < remaining <= 29_000
    assert context.function_name
    assert context.invoked_function_arn.startswith("arn:aws:lambda:")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/batch", ("/v1/{proxy+}", {"proxy": "batch"})),
        ("GET", "/v1/track", ("/v1/{proxy+}", {"proxy": "track"})),
        ("POST", "/v1/a/b", ("/v1/{proxy+}", {"proxy": "a/b"})),
        ("GET", "/openapi.json", ("/openapi.json", None)),
        ("POST", "/openapi.json", None),
        ("POST", "/v1/", None),
        ("POST", "/v2/batch", None),
        ("GET", "/", None),
    ],
)
def test_requests_take_the_resources_of_the_deployed_api(method, path, expected):
    assert match_route(DEFAULT_ROUTES, method, path) == expected
