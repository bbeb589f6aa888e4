# Field names are Segment's wire names (camelCase), kept as they are so the models read like the spec.
# ruff: noqa: N815
"""The Segment HTTP Tracking API payloads, as pydantic models: the contract of the request bodies.

These models are what the OpenAPI document shows and what the documentation describes. The request path does
not run them event by event (that is `featurepulse.ingest.enrich`, built for throughput); both use the same
atomic rules (`featurepulse.ingest.fields`), and a property test proves that they accept and refuse the same
events. Unknown fields are allowed (SDKs add their own) and are not stored, except inside `context`,
`properties` and `traits`, which are stored whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from featurepulse.ingest.fields import (
    check_event_name,
    check_identifier,
    check_message_id,
    check_object,
    check_optional_text,
    check_timestamp,
)

_ID_SCHEMA = WithJsonSchema({"type": ["string", "integer", "null"], "maxLength": 256})
_TIME_SCHEMA = WithJsonSchema({"type": ["string", "null"], "format": "date-time"})
_OBJECT_SCHEMA = WithJsonSchema({"type": ["object", "null"], "additionalProperties": True})


def _checked(check: Callable[[Any, str], Any]) -> BeforeValidator:
    """A pydantic validator running one of the shared rules, with the field's name for the reason."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        return check(value, info.field_name or "value")

    return BeforeValidator(validate)


Identifier = Annotated[str | None, _checked(check_identifier), _ID_SCHEMA]
Timestamp = Annotated[str | None, _checked(check_timestamp), _TIME_SCHEMA]
JsonObject = Annotated[dict[str, Any] | None, _checked(check_object), _OBJECT_SCHEMA]
OptionalText = Annotated[str | None, _checked(check_optional_text)]
MessageId = Annotated[str | None, BeforeValidator(check_message_id), WithJsonSchema({"type": ["string", "null"]})]
EventName = Annotated[str, BeforeValidator(check_event_name), WithJsonSchema({"type": "string", "minLength": 1})]

CONTEXT_DESCRIPTION = (
    "Free-form object, stored as JSON text (without `ip`). Keys the server reads: `ip` (truncated to /24 or /48, "
    "never stored whole), `campaign` {name, source, medium, term, content} (UTM), `sessionId`, `locale` (country), "
    "`userAgent`, `app.version`, `os.name`, `device.type`, `library.name` (platform)."
)
PROPERTIES_DESCRIPTION = (
    "Free-form object, stored as JSON text. Keys the server reads: `feature` (feature id), `duration_ms` (time on "
    "feature), `experiment_id` and `variation_id` (A/B assignment), `session_id`."
)


class _Event(BaseModel):
    """Fields common to every call. Each event needs `userId` or `anonymousId`."""

    model_config = ConfigDict(extra="allow")

    messageId: MessageId = Field(default=None, description="Event id, the dedup key; the server makes one if absent.")
    userId: Identifier = None
    anonymousId: Identifier = None
    timestamp: Timestamp = Field(
        default=None, description="When the event happened, by the client's clock (corrected with `sentAt`)."
    )
    originalTimestamp: Timestamp = Field(default=None, description="Used as `timestamp` when that is absent.")
    sentAt: Timestamp = Field(
        default=None, description="When the client sent the request, by the same clock (per event or per batch)."
    )
    context: JsonObject = Field(default=None, description=CONTEXT_DESCRIPTION)
    integrations: JsonObject = None
    writeKey: Annotated[Any, WithJsonSchema({"type": "string"})] = Field(
        default=None,
        description="The source's write key, when not sent with Basic auth (read from the body's top level).",
    )

    @model_validator(mode="after")
    def _needs_an_identity(self) -> _Event:
        if self.userId is None and self.anonymousId is None:
            raise ValueError("userId or anonymousId is required")
        return self


class TrackEvent(_Event):
    """`track`: what a user did. Feature engagement is a track event with `properties.feature`."""

    type: Literal["track"] = "track"
    event: EventName = Field(description="What the user did, e.g. `Feature Used`; maps to a funnel stage.")
    properties: JsonObject = Field(default=None, description=PROPERTIES_DESCRIPTION)


class PageEvent(_Event):
    """`page`: a web page view."""

    type: Literal["page"] = "page"
    name: OptionalText = None
    category: OptionalText = None
    properties: JsonObject = Field(default=None, description=PROPERTIES_DESCRIPTION)


class ScreenEvent(_Event):
    """`screen`: a mobile screen view."""

    type: Literal["screen"] = "screen"
    name: OptionalText = None
    category: OptionalText = None
    properties: JsonObject = Field(default=None, description=PROPERTIES_DESCRIPTION)


class IdentifyEvent(_Event):
    """`identify`: who the user is (`traits`)."""

    type: Literal["identify"] = "identify"
    traits: JsonObject = None


class GroupEvent(_Event):
    """`group`: the user belongs to an account or organization (`groupId`, required)."""

    type: Literal["group"] = "group"
    groupId: Identifier = Field(description="The group's id (required).")
    traits: JsonObject = None

    @model_validator(mode="after")
    def _needs_group_id(self) -> GroupEvent:
        if self.groupId is None:
            raise ValueError("group needs groupId")
        return self


class AliasEvent(_Event):
    """`alias`: links a previous identity (`previousId`, required) to `userId`."""

    type: Literal["alias"] = "alias"
    previousId: Identifier = Field(description="The identity being merged into `userId` (required).")

    @model_validator(mode="after")
    def _needs_previous_id(self) -> AliasEvent:
        if self.previousId is None:
            raise ValueError("alias needs previousId")
        return self


SegmentEvent = Annotated[
    TrackEvent | PageEvent | ScreenEvent | IdentifyEvent | GroupEvent | AliasEvent, Field(discriminator="type")
]
SEGMENT_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(SegmentEvent)

# The model of each single-event route, by event type.
EVENT_MODELS: dict[str, type[_Event]] = {
    "track": TrackEvent,
    "page": PageEvent,
    "screen": ScreenEvent,
    "identify": IdentifyEvent,
    "group": GroupEvent,
    "alias": AliasEvent,
}


class BatchRequest(BaseModel):
    """`POST /v1/batch`: several calls in one request. Each event is accepted or rejected on its own."""

    model_config = ConfigDict(extra="allow")

    batch: list[SegmentEvent] = Field(min_length=1)
    sentAt: Timestamp = Field(
        default=None, description="When the client sent the batch; used for events without their own `sentAt`."
    )
    context: JsonObject = Field(
        default=None, description="Merged under each event's own `context` (the event's keys win)."
    )
    integrations: JsonObject = None
    writeKey: str | None = Field(default=None, description="The source's write key, when not sent with Basic auth.")
