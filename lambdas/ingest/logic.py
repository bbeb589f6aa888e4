"""What one Segment API call does, from the HTTP request to the answer (docs/design.md section 1).

Order matters for "a 2xx means durably stored":
1. read the body (400 malformed, 413 too large) and authenticate the write key (401);
2. validate and enrich every event (`featurepulse.ingest.request.prepare_events`);
3. write the invalid events to the quarantine (503 when that fails: nothing is dropped in silence);
4. put the valid events on the stream, retrying only refused records inside the time budget (503 when some
   are still refused: the client resends the request, and dedup on event_id makes that safe);
5. answer 200 with the rejected events listed, once both writes succeeded.

The whole request runs within one time budget (`featurepulse.dal.budget`): the Lambda context's remaining time
less `ANSWER_RESERVE_MS`. The write-key lookup, the quarantine write and each PutRecords call start only when
their worst case still fits in what is left; when it does not, the answer is 503 + Retry-After before the
Lambda's timeout, never a 2xx for events that are not stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from featurepulse.dal.budget import BudgetExhaustedError, TimeBudget, call_within_budget
from featurepulse.dal.clients import DYNAMODB_ATTEMPT_MS
from featurepulse.dal.quarantine import QuarantineWriteError, write_quarantine
from featurepulse.dal.sources import SourceCache
from featurepulse.dal.stream import BUDGET_EXHAUSTED, PutOutcome, put_events_to_stream
from featurepulse.ingest.answers import accepted_body, refused_body
from featurepulse.ingest.auth import (
    MalformedAuthorizationError,
    WriteKeyTooLongError,
    basic_auth_user,
    check_write_key_length,
)
from featurepulse.ingest.enrich import normalize_country
from featurepulse.ingest.request import RequestError, decode_body, parse_request, prepare_events
from featurepulse.ingest.settings import IngestSettings
from featurepulse.ingest.timestamps import from_ms
from featurepulse.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class IngestCall:
    """The parts of the HTTP request the API reads."""

    route: str
    body: str | None
    is_base64: bool
    authorization: str | None
    request_id: str
    received_at_ms: int
    time_budget_ms: int
    source_ip: str | None = None
    viewer_country: str | None = None
    # The Lambda context's `get_remaining_time_in_millis`: the whole request's budget (None: unbounded, tests).
    remaining_ms: Callable[[], int] | None = None


@dataclass(frozen=True)
class IngestDependencies:
    settings: IngestSettings
    sources: SourceCache
    kinesis: KinesisClient
    s3: S3Client
    sleep: Callable[[float], None] = time.sleep


# Kept back from the Lambda's remaining time for building and returning the answer.
ANSWER_RESERVE_MS = 1000


@dataclass
class IngestAnswer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None
    accepted: int = 0
    rejected: int = 0
    put: PutOutcome | None = None


def _refused(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> IngestAnswer:
    return IngestAnswer(status=status, body=refused_body(code, message), headers=headers or {}, code=code)


def _out_of_time(retry_after: dict[str, str]) -> IngestAnswer:
    return _refused(
        503,
        "time_budget_exhausted",
        "the request could not be stored in time; send the same request again",
        retry_after,
    )


def ingest_call(call: IngestCall, deps: IngestDependencies) -> IngestAnswer:
    settings = deps.settings
    budget = (
        TimeBudget.unbounded()
        if call.remaining_ms is None
        else TimeBudget.from_remaining_time(call.remaining_ms, reserve_ms=ANSWER_RESERVE_MS)
    )
    # A Basic-auth key is checked before the body is read; a key in the body only after.
    try:
        header_key = basic_auth_user(call.authorization)
    except WriteKeyTooLongError as exc:
        return _refused(401, "invalid_write_key", str(exc))
    except MalformedAuthorizationError as exc:
        return _refused(401, "invalid_authorization", str(exc))
    source: str | IngestAnswer | None = None if header_key is None else _authenticate(header_key, deps, budget)
    if isinstance(source, IngestAnswer):
        return source
    try:
        parsed = parse_request(decode_body(call.body, is_base64=call.is_base64), call.route)
    except RequestError as exc:
        return _refused(exc.status, exc.error, exc.reason)
    if source is None:
        if parsed.write_key is None:
            return _refused(401, "missing_write_key", "send the write key as the Basic auth user name or as writeKey")
        source = _authenticate(parsed.write_key, deps, budget)
        if isinstance(source, IngestAnswer):
            return source

    prepared = prepare_events(
        parsed,
        source_id=source,
        request_id=call.request_id,
        received_at_ms=call.received_at_ms,
        config=settings.enrichment,
        source_ip=call.source_ip,
        viewer_country=normalize_country(call.viewer_country),
    )
    retry_after = {"Retry-After": str(settings.retry_after_seconds)}
    if prepared.quarantined:
        try:
            write_quarantine(
                deps.s3,
                bucket=settings.quarantine_bucket_name,
                prefix=settings.quarantine_prefix,
                request_id=call.request_id,
                received_at=from_ms(call.received_at_ms),
                events=prepared.quarantined,
                kms_key_arn=settings.quarantine_kms_key_arn,
                budget=budget,
                sleep=deps.sleep,
            )
        except BudgetExhaustedError as exc:
            logger.warning("no time left to write the quarantine; answering 503", extra={"error": str(exc)})
            return _out_of_time(retry_after)
        except QuarantineWriteError as exc:
            logger.error("quarantine write failed; answering 503", extra={"error": str(exc)})
            return _refused(
                503, "quarantine_unavailable", "invalid events could not be stored; send the request again", retry_after
            )
    outcome: PutOutcome | None = None
    if prepared.records:
        outcome = put_events_to_stream(
            deps.kinesis,
            settings.stream_name,
            prepared.records,
            time_budget_ms=call.time_budget_ms,
            sleep=deps.sleep,
            clock=time.monotonic if call.remaining_ms is None else budget.clock,
            request_budget=budget,
        )
        if not outcome.complete:
            logger.warning(
                "stream refused records within the time budget; answering 503",
                extra={"failed_records": len(outcome.failed), "last_error": outcome.last_error},
            )
            answer = (
                _out_of_time(retry_after)
                if outcome.last_error == BUDGET_EXHAUSTED
                else _refused(
                    503, "stream_unavailable", "the event stream is busy; send the same request again", retry_after
                )
            )
            answer.put = outcome  # nothing is counted as accepted or rejected: the client sends it all again
            return answer
    return IngestAnswer(
        status=200,
        body=accepted_body(prepared),
        accepted=prepared.accepted,
        rejected=len(prepared.rejections),
        put=outcome,
    )


def _authenticate(write_key: str, deps: IngestDependencies, budget: TimeBudget) -> str | IngestAnswer:
    """The source id of an active write key, or the 401 answer (503 when the sources table cannot answer)."""
    try:
        check_write_key_length(write_key)
    except WriteKeyTooLongError as exc:
        return _refused(401, "invalid_write_key", str(exc))
    try:
        if deps.sources.cached(write_key):
            source = deps.sources.get(write_key)
        else:
            source = call_within_budget(
                lambda: deps.sources.get(write_key), budget=budget, attempt_ms=DYNAMODB_ATTEMPT_MS, sleep=deps.sleep
            )
    except BudgetExhaustedError as exc:
        logger.warning("no time left to look the write key up; answering 503", extra={"error": str(exc)})
        return _out_of_time({"Retry-After": str(deps.settings.retry_after_seconds)})
    except (ClientError, BotoCoreError) as exc:
        logger.error("sources table lookup failed; answering 503", extra={"error": str(exc)})
        return _refused(
            503,
            "sources_unavailable",
            "the write key cannot be checked right now; send the request again",
            {"Retry-After": str(deps.settings.retry_after_seconds)},
        )
    if source is None:
        return _refused(401, "invalid_write_key", "unknown write key")
    if not source.active:
        return _refused(401, "revoked_write_key", "this write key's source has been revoked")
    return source.source_id
