"""One HTTP request body -> the stream records to put, the events to quarantine, and the rejections to answer.

Two steps, because authentication sits between them (the write key may travel in the body):
`parse_request` reads the body (limits, JSON, shape; raises `RequestError` for a 400/413 answer), then
`prepare_events` validates and enriches each event on its own: an invalid event becomes a rejection and a
quarantined event, never a reason to refuse the others.

Limits hold on what is stored (docs/api.md, Limits): an event's size is checked as sent (compact JSON) and as
stored (its enriched line, with the batch context merged), the same way on every route; the quarantine keeps
an invalid event as the client sent it, capped (`quarantined_event`), with the batch's values once per request
(`RequestBatch`), so no request multiplies itself on the stream or in the quarantine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from featurepulse.domain.packing import RecordPacker, StreamRecord, event_hour
from featurepulse.domain.quarantine import QuarantinedEvent
from featurepulse.domain.schema import EVENT_TYPES
from featurepulse.ingest.deepjson import MAX_SERIALIZABLE_DEPTH, dumps_any
from featurepulse.ingest.enrich import (
    EnrichmentConfig,
    InvalidEventError,
    RequestInfo,
    check_sent_at,
    enrich_event,
    generated_event_id,
)
from featurepulse.ingest.fields import check_object, text_value
from featurepulse.ingest.inflate import GZIP, GZIP_MAGIC, CorruptCompressionError, InflatedTooLargeError, inflate
from featurepulse.ingest.limits import (
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    MAX_ID_CHARS,
    MAX_QUARANTINED_RAW_BYTES,
    MAX_REQUEST_BYTES,
    MAX_STORED_BYTES_PER_REQUEST,
)
from featurepulse.ingest.privacy import truncate_ip, without_ip_keys
from featurepulse.ingest.timestamps import format_ms, from_ms

BATCH = "batch"
ROUTES: tuple[str, ...] = (BATCH, *EVENT_TYPES)
_dumps = orjson.dumps
_OPT_LINE = orjson.OPT_APPEND_NEWLINE


class RequestError(Exception):
    """A request refused as a whole: `status` (400 or 413), a stable `error` code and a human `reason`."""

    status = 400

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


class MalformedRequestError(RequestError):
    status = 400


class RequestTooLargeError(RequestError):
    status = 413


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A body that parsed: its events (raw, not yet validated), the write key it carries, batch defaults."""

    route: str
    events: list[Any]
    write_key: str | None
    body_bytes: int
    sent_at_ms: int | None = None
    context: dict[str, Any] | None = None
    # What the answer tells the client about the request as a whole (a batch sentAt that was ignored).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: str


@dataclass(slots=True)
class PreparedRequest:
    """What to store and answer for one request."""

    records: list[StreamRecord] = field(default_factory=list)
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    quarantined: list[QuarantinedEvent] = field(default_factory=list)
    # Accepted events sent without `messageId`: their id is a digest of their content, so an identical event
    # sent again counts once (the answer says so).
    generated_ids: int = 0
    warnings: tuple[str, ...] = ()


def decode_body(body: str | None, *, is_base64: bool) -> bytes:
    """The request body as bytes: base64 undone (API Gateway binary bodies) and gzip undone (every member, within
    the request limit: 413 `request_too_large` past it, 400 `malformed_body` for data that does not inflate)."""
    if not body:
        return b""
    if is_base64:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequestError("malformed_body", "the body is marked base64 but does not decode") from None
    else:
        try:
            data = body.encode()
        except UnicodeEncodeError:
            # A lone surrogate (e.g. a "\ud800" escape API Gateway decoded into the proxy event's body).
            raise MalformedRequestError(
                "malformed_body", "the body is not valid UTF-8 text: it contains a lone surrogate"
            ) from None
    if data[:2] == GZIP_MAGIC:
        # Every member of a multi-member body, within the request limit over all members together (a bomb split
        # over members is refused too): the local API Gateway stand-in inflates with the same function.
        try:
            data = inflate(data, GZIP, MAX_REQUEST_BYTES)
        except InflatedTooLargeError:
            raise RequestTooLargeError("request_too_large", INFLATED_TOO_LARGE) from None
        except CorruptCompressionError as exc:
            raise MalformedRequestError(
                "malformed_body", f"the body looks gzip-compressed but does not inflate ({exc})"
            ) from None
    return data


INFLATED_TOO_LARGE = (
    f"the request inflates to more than {MAX_REQUEST_BYTES} bytes; "
    f"the limit is {MAX_REQUEST_BYTES} bytes (500 KB) after inflation"
)


def parse_request(body: bytes, route: str) -> ParsedRequest:
    """Check the limits and the shape of a body; `route` is `batch` or the event type of a single-event route."""
    size = len(body)
    if size > MAX_REQUEST_BYTES:
        raise RequestTooLargeError(
            "request_too_large", f"the request is {size} bytes; the limit is {MAX_REQUEST_BYTES} bytes (500 KB)"
        )
    if not body.strip():
        raise MalformedRequestError("malformed_json", "the body is empty; expected a JSON object")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError("malformed_json", f"the body is not valid JSON: {exc}") from None
    if type(document) is not dict:
        raise MalformedRequestError("malformed_json", "the body must be a JSON object")
    write_key = document.get("writeKey")
    write_key = write_key if type(write_key) is str and write_key else None
    if route != BATCH:
        # The event is measured as in a batch (`sent_event_bytes`), not by the body: escapes count once.
        try:
            sent_bytes = sent_event_bytes(document) if size > MAX_EVENT_BYTES else 0
        except orjson.JSONEncodeError:
            sent_bytes = 0  # too deep: rejected for its depth, and quarantined, by `prepare_events`
        if sent_bytes > MAX_EVENT_BYTES:
            raise RequestTooLargeError(
                "event_too_large",
                f"the event is {sent_bytes} bytes; the limit is {MAX_EVENT_BYTES} bytes (32 KB) per event",
            )
        return ParsedRequest(route=route, events=[document], write_key=write_key, body_bytes=size)
    events = document.get("batch")
    if type(events) is not list or not events:
        raise MalformedRequestError("malformed_batch", "batch must be a non-empty array of events")
    if len(events) > MAX_BATCH_EVENTS:
        raise RequestTooLargeError(
            "too_many_events", f"the batch has {len(events)} events; the limit is {MAX_BATCH_EVENTS} per request"
        )
    try:
        context = check_object(document.get("context"), "context")
    except ValueError as exc:
        raise MalformedRequestError("malformed_batch", str(exc)) from None
    # The batch sentAt only corrects the events' clock skew: an unusable one (not an ISO-8601 time, or outside
    # UTC years 0001-9999) is ignored and the answer says so, rather than refusing the valid events sent with it.
    warnings: tuple[str, ...] = ()
    try:
        sent_at_ms = check_sent_at(document.get("sentAt"))
    except ValueError as exc:
        sent_at_ms = None
        warnings = (f"the batch {exc}: {SENT_AT_IGNORED}",)
    return ParsedRequest(
        route=route,
        events=events,
        write_key=write_key,
        body_bytes=size,
        sent_at_ms=sent_at_ms,
        context=context,
        warnings=warnings,
    )


SENT_AT_IGNORED = (
    "it was ignored for clock-skew correction (events without their own sentAt keep their timestamp as sent, "
    "or the receive time without one)"
)


def sent_event_bytes(raw: Any) -> int:
    """The size of an event as the client sent it, the same on every route: its compact JSON in UTF-8 (a `\\u00e9`
    escape in the body counts as the 2 bytes of `é`). Raises `orjson.JSONEncodeError` for a value nested deeper
    than orjson writes (`prepare_events` rejects that event for its depth)."""
    return len(_dumps(raw))


def prepare_events(
    parsed: ParsedRequest,
    *,
    source_id: str,
    request_id: str,
    received_at_ms: int,
    config: EnrichmentConfig,
    source_ip: str | None = None,
    viewer_country: str | None = None,
) -> PreparedRequest:
    """Validate and enrich every event; pack the valid ones into stream records, quarantine the others.

    The packing is `featurepulse.domain.packing.pack_events`'s (`RecordPacker`: gzip records per partition key and
    event hour, in order, cut at `MAX_PACKED_RECORD_BYTES`), fed lines serialized with their newline.
    """
    request = RequestInfo(
        source_id=source_id,
        received_at_ms=received_at_ms,
        source_ip=source_ip,
        viewer_country=viewer_country,
        sent_at_ms=parsed.sent_at_ms,
        context=parsed.context or None,
    )
    event_type = None if parsed.route == BATCH else parsed.route
    # No event can exceed the per-event limit as sent when the whole body is within it: measure only otherwise
    # (a single-event route measured its event in `parse_request`).
    measure = parsed.route == BATCH and parsed.body_bytes > MAX_EVENT_BYTES
    # A batch context over the limit by itself makes every event that inherits it whole too large as stored:
    # those are refused without merging and serializing it once per event (CPU and memory amplification).
    batch_context = parsed.context
    try:
        oversized_context = bool(batch_context) and sent_event_bytes(batch_context) > MAX_EVENT_BYTES
    except orjson.JSONEncodeError:
        oversized_context = False  # too deep: each event that merges it is rejected for its depth
    batch = RequestBatch(request)
    stored_bytes = 0
    prepared = PreparedRequest(warnings=parsed.warnings)
    records = prepared.records
    packer = RecordPacker()
    for index, raw in enumerate(parsed.events):
        try:
            if measure and sent_event_bytes(raw) > MAX_EVENT_BYTES:
                raise InvalidEventError(f"the event is larger than {MAX_EVENT_BYTES} bytes (32 KB)")
            if oversized_context and _inherits_whole(raw, batch_context):
                raise InvalidEventError(stored_too_large(None))
            enriched = enrich_event(raw, event_type, request, config)
            line = _dumps(enriched, option=_OPT_LINE)
            size = len(line)
            if size > _MAX_LINE_BYTES:
                raise InvalidEventError(stored_too_large(size - 1))
            stored_bytes += size
            if stored_bytes > MAX_STORED_BYTES_PER_REQUEST:
                stored_bytes -= size
                raise InvalidEventError(_REQUEST_STORED_TOO_LARGE)
            # orjson returns its grown write buffer (4 KB to 256 KB whatever the line's length): a line kept until
            # its record is built is copied to its exact size, so 5,000 kept lines do not hold 20-40 MB of buffers
            # (docs/performance.md, Ingest memory).
            line = memoryview(line).tobytes()
        except (ValueError, orjson.JSONEncodeError, RecursionError) as exc:
            # InvalidEventError, the ValueError of a field rule, or orjson refusing a too-deep event. A
            # RecursionError cannot come from the rules (they never recurse into a client's value); it is caught
            # so that a deep value reaching a library that recurses still costs only its own event.
            reason = (
                f"the event is nested deeper than {MAX_SERIALIZABLE_DEPTH} levels"
                if isinstance(exc, orjson.JSONEncodeError | RecursionError)
                else str(exc)
            )
            prepared.rejections.append(Rejection(index=index, reason=reason))
            prepared.quarantined.append(
                quarantined_event(
                    raw,
                    index=index,
                    reason=reason,
                    request=request,
                    request_id=request_id,
                    event_type=event_type,
                    batch=batch,
                )
            )
            continue
        event_id = enriched["event_id"]
        if raw.get("messageId") is None:
            prepared.generated_ids += 1
        key = enriched["user_id"] or enriched["anonymous_id"] or event_id  # partition_key_for, inline
        packer.add(key, event_id, line, event_hour(enriched["timestamp"]))
    records.extend(packer.finish())
    prepared.accepted = len(parsed.events) - len(prepared.rejections)
    return prepared


# A stored line is the event's JSON and its newline.
_MAX_LINE_BYTES = MAX_EVENT_BYTES + 1
_REQUEST_STORED_TOO_LARGE = (
    f"the request would store over {MAX_STORED_BYTES_PER_REQUEST} bytes (10 x its limit) with the batch context"
)


def stored_too_large(size: int | None) -> str:
    measured = "" if size is None else f" ({size} bytes)"
    return (
        f"the event as stored{measured}, with the batch context merged, is larger than {MAX_EVENT_BYTES} bytes (32 KB)"
    )


def _inherits_whole(raw: Any, batch_context: dict[str, Any] | None) -> bool:
    """Whether an event would store every key of the batch context (its own context overrides none of them)."""
    if type(raw) is not dict or not batch_context:
        return False
    own = raw.get("context")
    return own is None or (type(own) is dict and batch_context.keys().isdisjoint(own))


class RequestBatch:
    """The request-level values ingest applies to the events of a batch (its `sentAt` and `context`), kept once per
    request in the quarantine (docs/api.md, Quarantine).

    The first quarantined event of the request carries them as `batch` (JSON text `{"sentAt", "context"}`, without
    any ip key); the request's other quarantined events name that row in `batch_index`. So a replay re-validates
    each event exactly as ingest did (the event as the client sent it, the batch context merged under its own,
    the batch sentAt correcting its clock), and the quarantine of a request holds the batch context once: never
    once per event.
    """

    def __init__(self, request: RequestInfo) -> None:
        self.request = request
        self.carried_by: int | None = None
        self._text: str | None = None
        self._digest: bytes | None = None

    @property
    def text(self) -> str | None:
        """The batch values as stored, or None when the request has none (a single-event route, a bare batch)."""
        request = self.request
        if self._text is None and (request.context or request.sent_at_ms is not None):
            values: dict[str, Any] = {}
            if request.sent_at_ms is not None:
                values["sentAt"] = format_ms(request.sent_at_ms)
            if request.context:
                values["context"] = without_ip_keys(dict(request.context))
            self._text = dumps_any(values).decode()
        return self._text

    @property
    def digest(self) -> bytes:
        """A digest of the batch values (part of each quarantined event's id), computed once per request: hashing
        a 400 KB context once per event would cost 2 GB of hashing for 5,000 events."""
        if self._digest is None:
            self._digest = b"" if self.text is None else hashlib.sha256(self.text.encode()).digest()
        return self._digest

    def place(self, index: int) -> tuple[str | None, int | None]:
        """(`batch`, `batch_index`) of the quarantined event of `index`: the values on the first, a reference after."""
        if self.text is None:
            return None, None
        if self.carried_by is None:
            self.carried_by = index
            return self.text, None
        return None, self.carried_by


def quarantined_event(
    raw: Any,
    *,
    index: int,
    reason: str,
    request: RequestInfo,
    request_id: str,
    event_type: str | None = None,
    batch: RequestBatch | None = None,
) -> QuarantinedEvent:
    """The quarantine row of an invalid event: the event, the reason, who sent it, what ingest would apply to it.

    `raw` is the event as the client sent it, with the route's `type` on a single-event route, without
    `writeKey` and without any key spelled `ip` (at any depth); the batch's values are kept once per request
    (`RequestBatch`), and `ip_prefix` and `generated_event_id` are what ingest gives the event from the parts left
    out, so that a replay after a fix stores the event ingest would have stored. The row is capped
    (docs/api.md, Limits): a raw text over `MAX_QUARANTINED_RAW_BYTES` keeps its first bytes and says
    `truncated` (such an event was over the 32 KB limit as sent: nothing replayable is cut), ids longer than
    an id may be are left out of the id columns. `quarantine_id` is a digest of the source, the event and the
    batch values, the same when a client resends the request.
    """
    redacted = without_ip_keys(_as_read(raw, event_type))
    encoded = dumps_any(redacted)
    raw_bytes = len(encoded)
    truncated = raw_bytes > MAX_QUARANTINED_RAW_BYTES
    raw_text = encoded[:MAX_QUARANTINED_RAW_BYTES].decode("utf-8", errors="ignore") if truncated else encoded.decode()
    identity = redacted if type(redacted) is dict else {}
    batch_text, batch_index = (None, None) if batch is None else batch.place(index)
    batch_digest = b"" if batch is None else batch.digest
    canonical = dumps_any(redacted, sort_keys=True)
    digest = hashlib.sha256(request.source_id.encode() + b"\n" + canonical + b"\n" + batch_digest).hexdigest()
    return QuarantinedEvent(
        quarantine_id="q-" + digest[:32],
        source_id=request.source_id,
        request_id=request_id,
        index=index,
        reason=reason[:MAX_REASON_CHARS],
        received_at=from_ms(request.received_at_ms),
        user_id=_id_column(identity.get("userId")),
        anonymous_id=_id_column(identity.get("anonymousId")),
        message_id=_id_column(identity.get("messageId")),
        raw=raw_text,
        raw_bytes=raw_bytes,
        truncated=truncated,
        batch=batch_text,
        batch_index=batch_index,
        ip_prefix=_ip_prefix_of(raw, request),
        generated_event_id=_generated_id_of(raw, request),
    )


# Reasons are the rules' own sentences (a client's value appears cut to 40 characters); this only bounds a row.
MAX_REASON_CHARS = 400


def _id_column(value: Any) -> str | None:
    """An id for the id columns (erasure finds a user's rows by them): one an id may be, else None (an over-long
    id is still in `raw`, where erasure also looks)."""
    text = text_value(value)
    return text if text is not None and len(text) <= MAX_ID_CHARS else None


def _ip_prefix_of(raw: Any, request: RequestInfo) -> str | None:
    """The `ip_prefix` ingest gives the event: its `context.ip` (the batch context's under its own), truncated,
    else the request's source address, truncated (`enrich_event`)."""
    own = raw.get("context") if type(raw) is dict else None
    ip = None
    if type(own) is dict and "ip" in own:
        ip = own["ip"]
    elif request.context and (own is None or type(own) is dict):
        ip = request.context.get("ip")
    return (None if ip is None else truncate_ip(ip)) or request.source_ip_prefix


def _generated_id_of(raw: Any, request: RequestInfo) -> str | None:
    """The id ingest derives for an event without `messageId` (from the event as sent, ip keys included)."""
    if type(raw) is not dict or raw.get("messageId") not in (None, ""):
        return None
    try:
        return generated_event_id(request.source_id, raw)
    except orjson.JSONEncodeError:
        return None  # nested deeper than JSON columns hold: never replayable as it is


def _as_read(raw: Any, event_type: str | None) -> Any:
    if type(raw) is not dict:
        return raw
    event = {k: v for k, v in raw.items() if k != "writeKey"}
    if event_type is not None:
        event["type"] = event_type
    return event
