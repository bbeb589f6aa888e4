"""One raw Segment event -> one enriched event (docs/design.md sections 1 and 2), on the request's hot path.

`enrich_event` validates an event with the rules of `featurepulse.ingest.fields` (the same rules the pydantic
models of `featurepulse.ingest.segment` run) and builds the enriched event directly as a JSON-ready dict whose
keys and values are those of `featurepulse.domain.schema.EnrichedEvent` (times already in the wire format).
It does not construct pydantic models: at 100-event batches that would cost several times the JSON parse.
Tests prove that every dict it returns validates as an `EnrichedEvent` and that it refuses exactly the events
the models refuse.

Mapping (docs/api.md has the table):
- event_id: `messageId`, else `generated_event_id` (a digest of the source and the event, stable across retries).
- event: track `event`; page and screen `name`. stage: the stage map applied to a track's `event`.
- feature, experiment_id, variation_id, duration_ms: from `properties` (track, page, screen).
- session_id: `context.sessionId`, else `properties.session_id`.
- campaign_*: `context.campaign` {name, source, medium, term, content}.
- platform: `web` for browser libraries, else `context.os.name`, `context.device.type`, `context.library.name`.
- app_version: `context.app.version`. user_agent: `context.userAgent`.
- country: `RequestInfo.viewer_country` when a trusted front set one (the Lambda passes none: its REGIONAL
  endpoint has no CloudFront to set the header, docs/api.md), else the region of `context.locale` (`en-US` -> `US`).
- ip_prefix: `context.ip`, else the request's source IP, truncated (`featurepulse.ingest.privacy`).
- properties: the call's payload as JSON text: track/page/screen `properties` (with page/screen `category`),
  identify `traits`, group `{"groupId", "traits"}`, alias `{"previousId"}`.
- context: `context` as JSON text, without `ip`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from featurepulse.domain.schema import EVENT_TYPES, SCHEMA_VERSION, EnrichedEvent
from featurepulse.ingest.fields import (
    check_event_name,
    check_identifier,
    check_message_id,
    check_object,
    check_optional_text,
    text_value,
)
from featurepulse.ingest.limits import DEFAULT_MAX_FUTURE_SECONDS, MAX_ID_CHARS, MIN_EVENT_TIME_MS
from featurepulse.ingest.privacy import is_ip_key, truncate_ip
from featurepulse.ingest.timestamps import InvalidTimestampError, format_ms, parse_iso_ms

_dumps = orjson.dumps
_EVENT_TYPE_SET = frozenset(EVENT_TYPES)
_WITH_PROPERTIES = frozenset(("track", "page", "screen"))
# Largest duration kept (about 285 years): beyond it a number is garbage, not a time on feature.
_MAX_DURATION_MS = 2**53
# Browser SDKs do not report an OS; their library name says the platform is the web.
_WEB_LIBRARIES = frozenset(
    ("analytics.js", "analytics-next", "@segment/analytics-next", "RudderLabs JavaScript SDK", "rudder-sdk-js")
)
# The enriched event's columns, in order (the keys of every enriched event).
_COLUMNS: tuple[str, ...] = tuple(EnrichedEvent.model_fields)
_CACHE_LIMIT = 4096
_UNKNOWN: Any = object()
# locale -> country code (or None): `country_from_locale` results of short locales. A client chooses the
# locale, so only strings as long as a real one are kept: 4096 unique locales of 400 KB would hold 1.6 GB.
_countries: dict[str, str | None] = {}
_MAX_CACHED_LOCALE_CHARS = 64
# Keys left out of the digest of an event without messageId: SDKs restamp them when they retry.
_UNSTABLE_KEYS = frozenset(("sentAt", "writeKey"))


class InvalidEventError(ValueError):
    """An event that cannot be accepted; its message is the reason given to the client and the quarantine."""


@dataclass(frozen=True, slots=True)
class EnrichmentConfig:
    """Configuration of enrichment: the stage map (event name -> funnel stage) and the future bound."""

    stage_map: Mapping[str, str]
    max_future_ms: int = DEFAULT_MAX_FUTURE_SECONDS * 1000


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the server knows about the request that carried the events."""

    source_id: str
    received_at_ms: int
    source_ip: str | None = None
    viewer_country: str | None = None
    # Batch-level defaults (POST /v1/batch): `sentAt` and a `context` merged under each event's own.
    sent_at_ms: int | None = None
    context: Mapping[str, Any] | None = None
    # Derived once per request rather than once per event.
    received_at_text: str = field(init=False)
    sent_at_text: str | None = field(init=False)
    source_ip_prefix: str | None = field(init=False)
    # Every `EnrichedEvent` column in order, with this request's values (source, times, defaults for country and
    # ip_prefix) and None elsewhere: each enriched event starts as a copy. Never mutated.
    template: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        received_at_text = format_ms(self.received_at_ms)
        sent_at_text = None if self.sent_at_ms is None else format_ms(self.sent_at_ms)
        source_ip_prefix = truncate_ip(self.source_ip)
        template: dict[str, Any] = dict.fromkeys(_COLUMNS)
        template.update(
            source_id=self.source_id,
            sent_at=sent_at_text,
            received_at=received_at_text,
            country=self.viewer_country,
            ip_prefix=source_ip_prefix,
            schema_version=SCHEMA_VERSION,
        )
        object.__setattr__(self, "received_at_text", received_at_text)
        object.__setattr__(self, "sent_at_text", sent_at_text)
        object.__setattr__(self, "source_ip_prefix", source_ip_prefix)
        object.__setattr__(self, "template", template)


def generated_event_id(source_id: str, raw: Mapping[str, Any]) -> str:
    """The event id of an event sent without `messageId`: a digest of its source and content.

    A client that resends the same event (a retry after a 503) gets the same id, so downstream dedup still works;
    two identical events sent on purpose without `messageId` or `timestamp` are counted once (SDKs always send
    a `messageId`; this only covers hand-written clients).
    """
    stable = {k: v for k, v in raw.items() if k not in _UNSTABLE_KEYS}
    digest = hashlib.sha256(source_id.encode() + b"\n" + _dumps(stable, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return "fp-" + digest[:32]


def country_from_locale(locale: str) -> str | None:
    """The ISO country code of a locale's region (`en-US`, `en_GB.UTF-8`, `zh-Hant-TW`), or None (`en`, `es-419`)."""
    for part in locale.replace("_", "-").replace(".", "-").replace("@", "-").split("-")[1:]:
        if len(part) == 2 and part.isascii() and part.isalpha():
            return part.upper()
    return None


def normalize_country(value: str | None) -> str | None:
    """A two-letter country code (a viewer-country header), upper case, or None."""
    if value and len(value) == 2 and value.isascii() and value.isalpha():
        return value.upper()
    return None


def _describe(value: Any) -> str:
    """A short, safe description of a client's value for a reason: never `str()` of a container, which
    recurses (RecursionError on a value nested 1,000 levels deep) and can be as large as the request."""
    if value.__class__ is str:
        return repr(value[:40])
    if value.__class__ in (int, float, bool):
        return repr(value)[:40]
    return f"(a JSON {'object' if value.__class__ is dict else 'array' if value.__class__ is list else 'value'})"


def _nested_text(container: Any, key: str) -> str | None:
    if type(container) is dict:
        return text_value(container.get(key))
    return None


def _duration(value: Any) -> int | None:
    if type(value) is int:
        return value if 0 <= value <= _MAX_DURATION_MS else None
    if type(value) is float and math.isfinite(value) and 0 <= value <= _MAX_DURATION_MS:
        return round(value)
    return None


def _time(value: Any, field: str) -> int:
    try:
        return parse_iso_ms(value)
    except InvalidTimestampError as exc:
        raise InvalidEventError(f"{field} {exc}") from None


def enrich_event(raw: Any, event_type: str | None, request: RequestInfo, config: EnrichmentConfig) -> dict[str, Any]:
    """Validate one raw event and return its enriched form (`EnrichedEvent` fields, JSON-ready).

    `event_type` is the type of a single-event route (`/v1/track` ...), which wins over the body's `type`;
    None for the events of a batch, which must say their `type`. Raises `ValueError` (an `InvalidEventError`
    or the `ValueError` of a `fields` rule) whose message is the reason.

    This is the hot path: common cases are tested inline (`x.__class__ is str`) before calling the shared
    `fields` rules, which then decide (and word the reason) for everything else. The result starts as a copy
    of the request's template (every column, in order, with the request's values) and only the columns an event
    has are written: a copy and a few stores cost half of a 28-key dict display.
    """
    if raw.__class__ is not dict:
        raise InvalidEventError("an event must be a JSON object")
    get = raw.get
    kind = event_type or get("type")
    if kind.__class__ is not str or kind not in _EVENT_TYPE_SET:
        if kind is None:
            raise InvalidEventError(f"type is required in a batch: one of {', '.join(EVENT_TYPES)}")
        raise InvalidEventError(f"unknown type {_describe(kind)}: expected one of {', '.join(EVENT_TYPES)}")

    user_id = get("userId")
    if not (user_id.__class__ is str and 0 < len(user_id) <= MAX_ID_CHARS):
        user_id = check_identifier(user_id, "userId")
    anonymous_id = get("anonymousId")
    if not (anonymous_id.__class__ is str and 0 < len(anonymous_id) <= MAX_ID_CHARS):
        anonymous_id = check_identifier(anonymous_id, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidEventError("userId or anonymousId is required")
    message_id = get("messageId")
    if not (message_id.__class__ is str and 0 < len(message_id) <= MAX_ID_CHARS):
        message_id = check_message_id(message_id)

    raw_context = get("context")
    context: dict[str, Any] = (
        raw_context if raw_context.__class__ is dict else (check_object(raw_context, "context") or {})
    )
    if request.context:
        context = {**request.context, **context}
    integrations = get("integrations")
    if integrations is not None and integrations.__class__ is not dict:
        check_object(integrations, "integrations")

    enriched = request.template.copy()
    enriched["type"] = kind
    enriched["user_id"] = user_id
    enriched["anonymous_id"] = anonymous_id

    # Type-specific fields and the stored payload.
    session_id = None
    if kind in _WITH_PROPERTIES:
        properties = get("properties")
        if properties.__class__ is not dict:
            properties = check_object(properties, "properties") or {}
        payload: dict[str, Any] = properties
        if kind == "track":
            name = get("event")
            event = name if name.__class__ is str and name else check_event_name(name)
            enriched["event"] = event
            enriched["stage"] = config.stage_map.get(event)
        else:
            name = get("name")
            if name is not None and name.__class__ is not str:
                check_optional_text(name, "name")
            category = get("category")
            if category is not None and category.__class__ is not str:
                check_optional_text(category, "category")
            enriched["event"] = name
            if category is not None and "category" not in properties:
                payload = {**properties, "category": category}
        pget = properties.get
        if (v := pget("feature")) is not None:
            enriched["feature"] = v if v.__class__ is str and v else text_value(v)
        if (v := pget("experiment_id")) is not None:
            enriched["experiment_id"] = v if v.__class__ is str and v else text_value(v)
        if (v := pget("variation_id")) is not None:
            enriched["variation_id"] = v if v.__class__ is str and v else text_value(v)
        if (v := pget("duration_ms")) is not None:
            enriched["duration_ms"] = v if v.__class__ is int and 0 <= v <= _MAX_DURATION_MS else _duration(v)
        session_id = pget("session_id")
    elif kind == "identify":
        payload = check_object(get("traits"), "traits") or {}
    elif kind == "group":
        group_id = check_identifier(get("groupId"), "groupId")
        if group_id is None:
            raise InvalidEventError("group needs groupId")
        payload = {"groupId": group_id, "traits": check_object(get("traits"), "traits") or {}}
    else:
        previous_id = check_identifier(get("previousId"), "previousId")
        if previous_id is None:
            raise InvalidEventError("alias needs previousId")
        payload = {"previousId": previous_id}

    # Event time, corrected for the client's clock skew (featurepulse.ingest.timestamps).
    received_ms = request.received_at_ms
    raw_original = get("originalTimestamp")
    ts_ms = None if raw_original is None else _time(raw_original, "originalTimestamp")
    raw_ts = get("timestamp")
    if raw_ts is not None:
        try:
            ts_ms = parse_iso_ms(raw_ts)
        except InvalidTimestampError as exc:
            raise InvalidEventError(f"timestamp {exc}") from None
    raw_sent = get("sentAt")
    if raw_sent is None:
        sent_ms = request.sent_at_ms  # the template's sent_at
    else:
        sent_ms = _time(raw_sent, "sentAt")
        enriched["sent_at"] = format_ms(sent_ms)
    if ts_ms is None:
        ts_ms = received_ms
    elif sent_ms is not None:
        ts_ms = received_ms - (sent_ms - ts_ms)
    if ts_ms > received_ms + config.max_future_ms:
        raise InvalidEventError(
            f"timestamp is more than {config.max_future_ms // 1000} s in the future after clock-skew correction"
        )
    if ts_ms < MIN_EVENT_TIME_MS:
        raise InvalidEventError("timestamp is before 2000-01-01 after clock-skew correction")
    enriched["timestamp"] = format_ms(ts_ms)

    # Context: IP (never stored whole), campaign, platform, session, country. Absent values keep the template's.
    cget = context.get
    ip = cget("ip")
    if ip is not None:
        if context is raw_context:
            context = dict(context)  # the raw event stays as sent
        del context["ip"]
        ip_prefix = truncate_ip(ip)
        if ip_prefix is not None:
            enriched["ip_prefix"] = ip_prefix  # else the source IP's, from the template
    if "IP" in context or "Ip" in context or "iP" in context:  # other spellings: never stored, never read
        context = {k: v for k, v in context.items() if not is_ip_key(k)}
    campaign = cget("campaign")
    if campaign.__class__ is dict:
        # UTM values are strings: tested inline, `text_value` only for anything else.
        campaign_get = campaign.get
        if (v := campaign_get("name")) is not None:
            enriched["campaign_name"] = v if v.__class__ is str and v else text_value(v)
        if (v := campaign_get("source")) is not None:
            enriched["campaign_source"] = v if v.__class__ is str and v else text_value(v)
        if (v := campaign_get("medium")) is not None:
            enriched["campaign_medium"] = v if v.__class__ is str and v else text_value(v)
        if (v := campaign_get("term")) is not None:
            enriched["campaign_term"] = v if v.__class__ is str and v else text_value(v)
        if (v := campaign_get("content")) is not None:
            enriched["campaign_content"] = v if v.__class__ is str and v else text_value(v)
    library = cget("library")
    library_name = None
    if library.__class__ is dict:
        library_name = v if (v := library.get("name")).__class__ is str and v else text_value(v)
    if library_name in _WEB_LIBRARIES:
        enriched["platform"] = "web"
    else:
        os_info = cget("os")
        platform = text_value(os_info.get("name")) if os_info.__class__ is dict else None
        if platform is None:
            device = cget("device")
            platform = (text_value(device.get("type")) if device.__class__ is dict else None) or library_name
        enriched["platform"] = platform
    app = cget("app")
    if app.__class__ is dict:
        enriched["app_version"] = v if (v := app.get("version")).__class__ is str and v else text_value(v)
    if request.viewer_country is None:  # else the header's, from the template
        locale = cget("locale")
        if locale.__class__ is str:
            country = _countries.get(locale, _UNKNOWN)
            if country is _UNKNOWN:
                country = country_from_locale(locale)
                if len(locale) <= _MAX_CACHED_LOCALE_CHARS:
                    if len(_countries) >= _CACHE_LIMIT:
                        _countries.clear()
                    _countries[locale] = country
            enriched["country"] = country
    context_session = cget("sessionId")
    if context_session is not None:
        session_id = context_session
    if session_id is not None:
        if not (session_id.__class__ is str and session_id):
            # SDKs send a number (analytics.js: epoch ms): converted here, anything else by `text_value`.
            session_id = str(session_id) if session_id.__class__ is int else text_value(session_id)
        enriched["session_id"] = session_id
    user_agent = cget("userAgent")
    if user_agent.__class__ is str and user_agent:
        enriched["user_agent"] = user_agent

    enriched["properties"] = _dumps(payload).decode()
    enriched["context"] = _dumps(context).decode()
    enriched["event_id"] = message_id or generated_event_id(request.source_id, raw)
    return enriched


def check_sent_at(value: Any) -> int | None:
    """The batch-level `sentAt` in epoch ms (None when absent); raises ValueError with a reason."""
    if value is None:
        return None
    try:
        return parse_iso_ms(value)
    except InvalidTimestampError as exc:
        raise ValueError(f"sentAt {exc}") from None
