"""A local stand-in for API Gateway (REST API, Lambda proxy integration) in front of the real ingest handler.

Each HTTP request becomes the API Gateway REST proxy event (payload format 1.0) that the deployed Lambda would
receive; the handler's proxy response becomes the HTTP answer. Nothing Segment-specific lives here: the
Segment API is the handler's, so what works against this endpoint works against the deployed API.

What this stand-in does the way API Gateway does it (as `cdk/ingest_api.py` configures it):
- Only the API's resources reach the Lambda: `ANY /v1/{proxy+}` and `GET /openapi.json`; anything else gets
  API Gateway's 403 `Missing Authentication Token`. CORS preflights (OPTIONS) are answered by the gateway
  itself (the CDK's `default_cors_preflight_options`), never by the Lambda.
- `Content-Encoding: gzip` / `deflate` request bodies are decompressed before the handler is called (API
  Gateway decompresses method request payloads of the supported codings; a body that does not decode is
  refused with 415). The header is passed through unchanged, as API Gateway passes client headers. Every
  member of a multi-member gzip body is inflated (the handler sees the whole body), and inflation stops at the
  handler's own request limit (`MAX_REQUEST_BYTES`, 500 KB): a body that inflates past it gets the handler's
  413 `request_too_large` without being inflated further (a 300 KB gzip bomb never becomes 300 MB in memory).
- A `Content-Length` that is not a non-negative integer, or a chunk size that is not hex, gets 400.
- Bodies that are not UTF-8 text reach the handler base64-encoded with `isBase64Encoded: true`.
- `X-Forwarded-For` gets the peer address appended; `requestContext.identity.sourceIp` is the peer.
- A payload over API Gateway's 10 MB quota gets 413 without reaching the handler.
- A handler that raises, or returns something that is not a proxy response, gives 502 (API Gateway's
  "Internal server error" / "Malformed Lambda proxy response"); the stack trace goes to the log, not the client.
- One invocation at a time per "execution environment": `concurrency` environments (default 1), as Lambda
  never runs two invocations in one environment (module-level clients and metrics stay single-threaded).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from featurepulse.ingest.inflate import CorruptCompressionError, inflate
from featurepulse.ingest.inflate import InflatedTooLargeError as InflatedBodyTooLargeError
from featurepulse.ingest.limits import MAX_REQUEST_BYTES
from featurepulse.ingest.request import INFLATED_TOO_LARGE

logger = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]

# API Gateway quotas and fixed values of a local deployment.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
INTEGRATION_TIMEOUT_MS = 29_000
LOCAL_STAGE = "local"
LOCAL_ACCOUNT_ID = "000000000000"
LOCAL_API_ID = "featurepulse-local"
LOCAL_FUNCTION_NAME = "featurepulse-ingest-local"
SUPPORTED_CONTENT_CODINGS = ("gzip", "deflate", "identity")
CORS_ALLOW_HEADERS = "Authorization,Content-Type,X-Amz-Date,X-Api-Key"
CORS_ALLOW_METHODS = "POST,GET,OPTIONS"
CORS_MAX_AGE_S = 3600


@dataclass(frozen=True)
class GatewayRoute:
    """A resource of the REST API with the methods integrated with the Lambda (None: ANY)."""

    resource: str
    methods: frozenset[str] | None = None


# The resources of cdk/ingest_api.py.
DEFAULT_ROUTES: tuple[GatewayRoute, ...] = (
    GatewayRoute("/v1/{proxy+}"),
    GatewayRoute("/openapi.json", frozenset({"GET"})),
)


def match_route(routes: Iterable[GatewayRoute], method: str, path: str) -> tuple[str, dict[str, str] | None] | None:
    """(resource, pathParameters) of the route a request takes, or None when no integration takes it."""
    for route in routes:
        if route.methods is not None and method not in route.methods:
            continue
        if route.resource.endswith("/{proxy+}"):
            prefix = route.resource.removesuffix("{proxy+}")
            if path.startswith(prefix) and len(path) > len(prefix):
                return route.resource, {"proxy": path[len(prefix) :]}
        elif path == route.resource:
            return route.resource, None
    return None


class UnsupportedContentEncodingError(ValueError):
    """The body does not decode with the coding its `Content-Encoding` names (API Gateway answers 415)."""


class BadRequestError(ValueError):
    """The request's framing is unreadable: a bad `Content-Length` or chunk size (answered 400)."""


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = LOCAL_FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{LOCAL_ACCOUNT_ID}:function:{LOCAL_FUNCTION_NAME}"
    log_group_name: str = f"/aws/lambda/{LOCAL_FUNCTION_NAME}"
    log_stream_name: str = "local"
    timeout_ms: int = INTEGRATION_TIMEOUT_MS
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed_ms = int((time.monotonic() - self._started) * 1000)
        return max(0, self.timeout_ms - elapsed_ms)


def decode_content(body: bytes, content_encoding: str | None, *, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """Undo the request's `Content-Encoding` (codings applied in order, so undone in reverse), each step within
    `limit` bytes of output (`featurepulse.ingest.inflate`, the Lambda's own inflation). Raises
    UnsupportedContentEncodingError or InflatedBodyTooLargeError."""
    if not content_encoding:
        return body
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "deflate"):
            raise UnsupportedContentEncodingError(f"unsupported content coding {coding!r}")
        try:
            body = inflate(body, coding, limit)
        except CorruptCompressionError as exc:
            raise UnsupportedContentEncodingError(str(exc)) from None
    return body


def _body_for_event(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def build_proxy_event(
    *,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    received_at: datetime,
    host: str = "localhost",
    stage: str = LOCAL_STAGE,
    protocol: str = "HTTP/1.1",
    resource: str = "/v1/{proxy+}",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (payload format 1.0) for one HTTP request.

    `body` is the decoded (decompressed) body; `target` the request target (path and query string).
    Header names keep the client's case, as API Gateway passes them.
    """
    split = urlsplit(target)
    path = split.path or "/"
    header_pairs = list(headers)
    forwarded = [v for k, v in header_pairs if k.lower() == "x-forwarded-for"]
    header_pairs = [(k, v) for k, v in header_pairs if k.lower() != "x-forwarded-for"]
    header_pairs.append(("X-Forwarded-For", ", ".join([*forwarded, source_ip])))
    multi_headers = _multi(header_pairs)
    query_pairs = parse_qsl(split.query, keep_blank_values=True)
    multi_query = _multi(query_pairs)
    event_body, is_base64 = _body_for_event(body)
    user_agent = next((v for k, v in header_pairs if k.lower() == "user-agent"), None)
    epoch_ms = int(received_at.timestamp() * 1000)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: values[-1] for k, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: values[-1] for k, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": protocol,
            "requestId": request_id,
            "requestTime": received_at.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": epoch_ms,
            "resourceId": "local",
            "resourcePath": resource,
            "stage": stage,
        },
        "body": event_body,
        "isBase64Encoded": is_base64,
    }


@dataclass(frozen=True)
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _request_too_large() -> ProxyResponse:
    """The handler's own 413 (docs/api.md, Limits), for a body that inflates past its request limit."""
    body = json.dumps({"success": False, "code": "request_too_large", "message": INFLATED_TOO_LARGE}).encode()
    return ProxyResponse(413, [("Content-Type", "application/json")], body)


def _gateway_error(status: int, message: str) -> ProxyResponse:
    body = json.dumps({"message": message}).encode()
    return ProxyResponse(status, [("Content-Type", "application/json")], body)


def _cors_preflight() -> ProxyResponse:
    headers = [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", CORS_ALLOW_METHODS),
        ("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS),
        ("Access-Control-Max-Age", str(CORS_MAX_AGE_S)),
    ]
    return ProxyResponse(204, headers, b"")


def parse_proxy_response(result: Any) -> ProxyResponse:
    """The HTTP answer for a handler's proxy response; 502 for anything API Gateway would call malformed."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        return _gateway_error(502, "Internal server error")
    headers: list[tuple[str, str]] = []
    single = result.get("headers")
    multi = result.get("multiValueHeaders")
    single = {} if single is None else single
    multi = {} if multi is None else multi
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        return _gateway_error(502, "Internal server error")
    for name, values in multi.items():
        headers.extend((str(name), str(v)) for v in values)
    multi_lower = {str(k).lower() for k in multi}
    headers.extend((str(k), str(v)) for k, v in single.items() if str(k).lower() not in multi_lower)
    raw_body = result.get("body")
    body: bytes
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw_body), validate=True)
        except binascii.Error:
            return _gateway_error(502, "Internal server error")
    else:
        body = str(raw_body).encode("utf-8")
    return ProxyResponse(int(result["statusCode"]), headers, body)


def _content_length(value: str | None) -> int:
    """The declared body length: absent is 0; anything but a non-negative decimal integer is a bad request (a
    negative one would make the read wait for the client to close the connection)."""
    if value is None or not value.strip():
        return 0
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise BadRequestError(f"Content-Length {value[:40]!r} is not a non-negative integer")
    return int(text)


def _chunk_size(line: bytes) -> int:
    text = line.split(b";")[0].strip() or b"0"
    try:
        size = int(text, 16)
    except ValueError:
        raise BadRequestError("a chunk size is not hexadecimal") from None
    if size < 0 or not text.isalnum():
        raise BadRequestError("a chunk size is not hexadecimal")
    return size


class _EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], endpoint: LocalApiEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: without this, Nagle and delayed ACKs cost ~40 ms per request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _EndpointServer
    server_version = "featurepulse-local"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes | None:
        """The raw request body, or None when it exceeds the payload quota.

        An oversized body is still read (and discarded) so that the client gets the 413 instead of a reset
        connection; past twice the quota the connection is closed without reading further.
        """
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65_537)
                size = _chunk_size(size_line)
                if size == 0:
                    while self.rfile.readline(65_537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks) if total <= MAX_PAYLOAD_BYTES else None
                total += size
                if total > 2 * MAX_PAYLOAD_BYTES:
                    self.close_connection = True
                    return None
                chunk = self.rfile.read(size)
                if total <= MAX_PAYLOAD_BYTES:
                    chunks.append(chunk)
                self.rfile.readline(3)
        length = _content_length(self.headers.get("Content-Length"))
        if length > MAX_PAYLOAD_BYTES:
            if length > 2 * MAX_PAYLOAD_BYTES:
                self.close_connection = True
                return None
            remaining = length
            while remaining > 0:
                read = len(self.rfile.read(min(remaining, 1 << 16)))
                if not read:
                    break
                remaining -= read
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        received_at = datetime.now(UTC)
        request_id = str(uuid.uuid4())
        try:
            raw = self._read_body()
        except BadRequestError as exc:
            # Nothing more is read from a connection whose framing is unknown: it is closed after the answer.
            self.close_connection = True
            self._send(_gateway_error(400, f"Bad Request: {exc}"), request_id)
            return
        if raw is None:
            self._send(_gateway_error(413, "Request Entity Too Large"), request_id)
            return
        try:
            body = decode_content(raw, self.headers.get("Content-Encoding"))
        except UnsupportedContentEncodingError as exc:
            logger.info("refused request %s: %s", request_id, exc)
            self._send(_gateway_error(415, "Unsupported Media Type"), request_id)
            return
        except InflatedBodyTooLargeError as exc:
            logger.info("refused request %s: %s", request_id, exc)
            self._send(_request_too_large(), request_id)
            return
        path = urlsplit(self.path).path or "/"
        if self.command == "OPTIONS":
            self._send(_cors_preflight(), request_id)
            return
        route = match_route(self.server.endpoint.routes, self.command, path)
        if route is None:
            self._send(_gateway_error(403, "Missing Authentication Token"), request_id)
            return
        event = build_proxy_event(
            resource=route[0],
            path_parameters=route[1],
            method=self.command,
            target=self.path,
            headers=self.headers.items(),
            body=body,
            source_ip=self.client_address[0],
            request_id=request_id,
            received_at=received_at,
            host=self.headers.get("Host", "localhost"),
            protocol=self.request_version,
        )
        self._send(self.server.endpoint.invoke(event), request_id)

    def _send(self, response: ProxyResponse, request_id: str) -> None:
        self.send_response(response.status)
        hop_by_hop = {"content-length", "connection", "transfer-encoding"}
        for name, value in response.headers:
            if name.lower() not in hop_by_hop:
                self.send_header(name, value)
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    # http.server dispatches on `do_<METHOD>`; API Gateway passes every method to the proxy integration.
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()


class LocalApiEndpoint:
    """Serves a Lambda proxy handler over HTTP on a loopback port (port 0: any free port)."""

    def __init__(
        self,
        handler: LambdaHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        concurrency: int = 1,
        routes: tuple[GatewayRoute, ...] = DEFAULT_ROUTES,
    ) -> None:
        self._handler = handler
        self.routes = routes
        self._environments = threading.BoundedSemaphore(concurrency)
        self._server = _EndpointServer((host, port), self)
        self._thread: threading.Thread | None = None
        self.invocations = 0
        self.failures = 0
        self._count_lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}"

    def invoke(self, event: dict[str, Any]) -> ProxyResponse:
        """Call the handler as Lambda would; a crash becomes API Gateway's 502, never a stack trace to the client."""
        with self._environments:
            context = LocalLambdaContext(aws_request_id=event["requestContext"]["requestId"])
            try:
                result = self._handler(event, context)
            except Exception:
                logger.exception("handler failed for %s %s", event["httpMethod"], event["path"])
                result = None
        response = parse_proxy_response(result)
        with self._count_lock:
            self.invocations += 1
            if response.status == 502:
                self.failures += 1
        return response

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the socket; safe to call twice."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LocalApiEndpoint:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
