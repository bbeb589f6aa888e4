"""The bodies the ingestion API answers with (docs/design.md section 1, Answers).

- 200 `Accepted`: every valid event is durably stored (on the stream); `rejected` lists the invalid ones (their
  index in the request and the reason), which are stored in the quarantine. Segment SDKs read `success`.
- 4xx/5xx `Refused`: nothing from the request was accepted; `code` is a stable error code, `message` says what
  went wrong and what to do (Segment's field names: Segment SDKs log them).
"""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, Field

from featurepulse.ingest.request import PreparedRequest


class RejectedEvent(BaseModel):
    index: int = Field(description="Position of the event in the request (0 for a single-event call).")
    reason: str = Field(description="Why the event was refused; it is kept in the quarantine with this reason.")


class Accepted(BaseModel):
    success: Literal[True] = True
    accepted: int = Field(description="How many events were stored on the stream.")
    rejected: list[RejectedEvent] = Field(default_factory=list, description="Events refused, kept in quarantine.")
    generated_ids: int | None = Field(
        default=None,
        description="Present when events came without `messageId`: how many. Their ids are derived from their "
        "content, so sending the same event again is counted once (send a messageId to count each call).",
    )
    note: str | None = Field(default=None, description="A sentence about `generated_ids`, for people using curl.")
    warnings: list[str] | None = Field(
        default=None,
        description="Present when part of the request was ignored, e.g. a batch `sentAt` that is not a usable "
        "time (the events were stored without its clock-skew correction).",
    )


class Refused(BaseModel):
    success: Literal[False] = False
    code: str = Field(description="A stable error code, e.g. `malformed_json`, `invalid_write_key`.")
    message: str = Field(description="What went wrong and what to do about it.")


def accepted_body(prepared: PreparedRequest) -> str:
    """The JSON of the 200 answer (built without pydantic: it is on every request's path)."""
    answer: dict[str, object] = {
        "success": True,
        "accepted": prepared.accepted,
        "rejected": [{"index": r.index, "reason": r.reason} for r in prepared.rejections],
    }
    if prepared.generated_ids:
        answer["generated_ids"] = prepared.generated_ids
        answer["note"] = (
            f"{prepared.generated_ids} event(s) had no messageId: ids were derived from their content, so an "
            "identical event sent again is counted once"
        )
    if prepared.warnings:
        answer["warnings"] = list(prepared.warnings)
    return orjson.dumps(answer).decode()


def refused_body(code: str, message: str) -> str:
    return orjson.dumps({"success": False, "code": code, "message": message}).decode()
