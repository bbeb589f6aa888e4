"""Ingest Lambda: the Segment-compatible HTTP Tracking API behind API Gateway (REST API, proxy integration).

Routes: `POST /v1/batch|track|page|screen|identify|group|alias` (and the one-letter forms `/v1/b|t|p|s|i|g|a`
of the mobile SDKs), `GET /openapi.json`, CORS preflight for browser SDKs. Each route reads the request, calls
`lambdas.ingest.logic.ingest_call`, records metrics and answers. docs/api.md is the reference.
"""

from __future__ import annotations

import time
import warnings
from functools import lru_cache
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from featurepulse.dal.clients import dynamodb_client, kinesis_client, reset_clients, s3_client
from featurepulse.dal.sources import SourceCache, get_source_by_write_key
from featurepulse.ingest.answers import Accepted, Refused, refused_body
from featurepulse.ingest.request import BATCH
from featurepulse.ingest.settings import DEFAULT_RETRY_AFTER_SECONDS, settings_from_env
from featurepulse.observability import logger, metrics, tracer
from lambdas.ingest.logic import IngestAnswer, IngestCall, IngestDependencies, ingest_call

API_TITLE = "featurepulse ingestion API"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Segment-compatible HTTP Tracking API. Authenticate with HTTP Basic (the source's write key as user name, "
    "empty password) or `writeKey` in the body."
)
# Time kept back from the Lambda's remaining time for the answer itself, when the budget would exceed it.
ANSWER_RESERVE_MS = 1000

# CORS preflights, /openapi.json and 404s record no metric; Powertools would warn about it on each of them.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

cors = CORSConfig(
    allow_origin="*", allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"], max_age=600
)
app = APIGatewayRestResolver(cors=cors)

_JSON = content_types.APPLICATION_JSON


def _answer(model: type[Accepted] | type[Refused], description: str) -> OpenAPIResponse:
    return {"description": description, "content": {_JSON: {"model": model}}}


RESPONSES: dict[int, OpenAPIResponse] = {
    200: _answer(Accepted, "Stored: valid events on the stream, invalid ones in the quarantine (listed)."),
    400: _answer(Refused, "Malformed body: not JSON, not an object, no `batch` array."),
    401: _answer(Refused, "Missing, unknown or revoked write key."),
    413: _answer(Refused, "Request over 500 KB, over 5,000 events, or single event over 32 KB."),
    503: _answer(Refused, "Not stored: send the same request again after Retry-After seconds."),
}


@lru_cache(maxsize=1)
def dependencies() -> IngestDependencies:
    """Settings, the write-key cache and the AWS clients, created on first use and kept for the process."""
    settings = settings_from_env()
    table = settings.sources_table_name
    sources = SourceCache(
        lambda key: get_source_by_write_key(dynamodb_client(), table, key),
        ttl_seconds=settings.sources_cache_ttl_seconds,
    )
    return IngestDependencies(settings=settings, sources=sources, kinesis=kinesis_client(), s3=s3_client())


def reset_process_state() -> None:
    """Forget settings, clients and the write-key cache, as a new execution environment would (tests, and a
    local runtime that restarts its AWS stand-in in the same process)."""
    settings_from_env.cache_clear()
    dependencies.cache_clear()
    reset_clients()


def _ingest(route: str) -> Response[str]:
    event = app.current_event
    deps = dependencies()
    headers = event.headers  # case-insensitive
    request_context = event.raw_event.get("requestContext") or {}
    identity = request_context.get("identity") or {}
    received_at_ms = request_context.get("requestTimeEpoch")
    call = IngestCall(
        route=route,
        body=event.body,
        is_base64=bool(event.is_base64_encoded),
        authorization=headers.get("Authorization"),
        request_id=str(request_context.get("requestId") or app.lambda_context.aws_request_id),
        received_at_ms=int(received_at_ms) if received_at_ms else time.time_ns() // 1_000_000,
        time_budget_ms=_time_budget_ms(deps.settings.put_time_budget_ms),
        remaining_ms=getattr(app.lambda_context, "get_remaining_time_in_millis", None),
        source_ip=identity.get("sourceIp"),
        # No viewer country: the API is a REGIONAL endpoint (cdk/ingest_api.py), with no CloudFront in front to
        # set CloudFront-Viewer-Country, so that header is whatever the client wrote (docs/api.md, Enrichment).
        # Country comes from context.locale only.
    )
    answer = ingest_call(call, deps)
    _record_metrics(answer)
    return Response(status_code=answer.status, content_type=_JSON, body=answer.body, headers=answer.headers)


UNEXPECTED_ERROR_CODE = "temporarily_unavailable"


# Registered for the exception types Powertools answers itself (a 404, a ServiceError), so that the catch-all
# below, which Powertools looks up along each exception's MRO, does not turn them into 503s.
@app.not_found
def answer_not_found(_: NotFoundError) -> Response[str]:
    return Response(
        status_code=404, content_type=_JSON, body=refused_body("not_found", "no such route; see /openapi.json")
    )


def answer_service_error(error: ServiceError) -> Response[str]:
    return Response(status_code=error.status_code, content_type=_JSON, body=refused_body("refused", str(error.msg)))


def answer_unexpected_error(error: Exception) -> Response[str]:
    """Any error no rule answers (a bug, or a dependency failing in a way nobody handles) becomes the documented
    503 + Retry-After, never API Gateway's bare 502: SDKs keep the events and resend them, and the resend is
    safe (dedup on messageId; nothing is reported accepted). Logged with the request id for the on-call."""
    request_context = app.current_event.raw_event.get("requestContext") or {}
    logger.exception(
        "unexpected error; answering 503",
        extra={"request_id": request_context.get("requestId"), "error_type": type(error).__name__},
    )
    try:
        retry_after = dependencies().settings.retry_after_seconds
    except Exception:  # settings themselves may be what failed; the answer must still be given
        retry_after = DEFAULT_RETRY_AFTER_SECONDS
    return Response(
        status_code=503,
        content_type=_JSON,
        body=refused_body(UNEXPECTED_ERROR_CODE, "the request could not be handled; send the same request again"),
        headers={"Retry-After": str(retry_after)},
    )


# Registered without decorator syntax: Powertools' decorators are untyped (mypy strict).
app.exception_handler(ServiceError)(answer_service_error)
app.exception_handler(Exception)(answer_unexpected_error)


def _time_budget_ms(configured_ms: int) -> int:
    context = app.lambda_context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return configured_ms
    return max(0, min(configured_ms, int(remaining()) - ANSWER_RESERVE_MS))


# The handler's own metrics (each name is a custom metric, billed monthly): only what no free metric gives. Answers
# by status are API Gateway's 4XXError/5XXError, rejected events are the quarantined ones, PutRecords calls and
# throttled records are the stream's PutRecords metrics (docs/api.md, Metrics).
INGEST_METRIC_NAMES: tuple[str, ...] = ("AcceptedEvents", "QuarantinedEvents", "PutRetriedRecords", "FailedRecords")


def _record_metrics(answer: IngestAnswer) -> None:
    metrics.add_metric(name="AcceptedEvents", unit=MetricUnit.Count, value=answer.accepted)
    if 400 <= answer.status < 500:
        logger.info("request refused", extra={"status": answer.status, "code": answer.code})
    if answer.rejected:
        metrics.add_metric(name="QuarantinedEvents", unit=MetricUnit.Count, value=answer.rejected)
    if answer.put is not None:
        if answer.put.retried_records:
            metrics.add_metric(name="PutRetriedRecords", unit=MetricUnit.Count, value=answer.put.retried_records)
        if answer.put.failed:
            metrics.add_metric(name="FailedRecords", unit=MetricUnit.Count, value=len(answer.put.failed))


TAGS = ["Segment tracking API"]


@app.post("/v1/batch", summary="Send several calls in one request", responses=RESPONSES, tags=TAGS)
@app.post("/v1/b", include_in_schema=False)
def batch() -> Response[str]:
    return _ingest(BATCH)


@app.post("/v1/track", summary="Record what a user did (feature engagement)", responses=RESPONSES, tags=TAGS)
@app.post("/v1/t", include_in_schema=False)
def track() -> Response[str]:
    return _ingest("track")


@app.post("/v1/page", summary="Record a web page view", responses=RESPONSES, tags=TAGS)
@app.post("/v1/p", include_in_schema=False)
def page() -> Response[str]:
    return _ingest("page")


@app.post("/v1/screen", summary="Record a mobile screen view", responses=RESPONSES, tags=TAGS)
@app.post("/v1/s", include_in_schema=False)
def screen() -> Response[str]:
    return _ingest("screen")


@app.post("/v1/identify", summary="Say who the user is", responses=RESPONSES, tags=TAGS)
@app.post("/v1/i", include_in_schema=False)
def identify() -> Response[str]:
    return _ingest("identify")


@app.post("/v1/group", summary="Put the user in a group (account)", responses=RESPONSES, tags=TAGS)
@app.post("/v1/g", include_in_schema=False)
def group() -> Response[str]:
    return _ingest("group")


@app.post("/v1/alias", summary="Merge a previous identity into userId", responses=RESPONSES, tags=TAGS)
@app.post("/v1/a", include_in_schema=False)
def alias() -> Response[str]:
    return _ingest("alias")


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    """The OpenAPI document, generated from the routes above and the pydantic models of the payloads."""
    return Response(status_code=200, content_type=_JSON, body=openapi_json())


@lru_cache(maxsize=1)
def openapi_json() -> str:
    # Imported here: the payload models are only needed for this document, not on the ingest path (cold start).
    from featurepulse.ingest.openapi import add_request_bodies

    schema = app.get_openapi_schema(title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION)
    document = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    return orjson.dumps(add_request_bodies(document)).decode()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
