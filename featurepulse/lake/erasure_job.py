"""The deployed erasure job: erasure requests arrive on an SQS FIFO queue, the erasure Lambda runs them.

One invocation takes up to 10 queued requests and erases all their users in one pass over the lake (one scan
for the batch, each affected file rewritten once). The queue is FIFO with a single message group, so two
erasures never rewrite the same file at the same time. A malformed request is reported as a failed batch item
(it goes to the dead-letter queue after its retries); an erasure that fails (a timeout, S3 throttling) fails the
batch, which SQS delivers again: erasure is idempotent, so the retry completes the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from featurepulse.lake.erasure import ErasureAudit, ErasureRequest, LakeEraser
from featurepulse.lake.store import ObjectStore

ERASURE_MESSAGE_GROUP = "erasure"


class ErasureMessage(BaseModel):
    """The body of an erasure request on the queue (what `featurepulse erase --queue-url` sends)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_ids: list[str] = Field(default_factory=list, max_length=10_000)
    anonymous_ids: list[str] = Field(default_factory=list, max_length=10_000)
    include_linked_anonymous_ids: bool = True
    requested_by: str | None = Field(default=None, max_length=512)


@dataclass(frozen=True)
class QueuedRequest:
    message_id: str
    body: str
    sender_id: str | None = None  # SQS's SenderId attribute: the IAM identity that queued the request


@dataclass
class BatchOutcome:
    audit: ErasureAudit | None = None
    failed_message_ids: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # message id -> why it was refused


def run_erasure_batch(store: ObjectStore, queued: Sequence[QueuedRequest]) -> BatchOutcome:
    outcome = BatchOutcome()
    user_ids: set[str] = set()
    anonymous_ids: set[str] = set()
    linked = False
    requesters: list[str] = []
    for item in queued:
        try:
            message = ErasureMessage.model_validate_json(item.body)
            ErasureRequest(user_ids=frozenset(message.user_ids), anonymous_ids=frozenset(message.anonymous_ids))
        except (ValidationError, ValueError) as exc:
            outcome.failed_message_ids.append(item.message_id)
            outcome.rejected[item.message_id] = str(exc).splitlines()[0][:300]
            continue
        user_ids.update(message.user_ids)
        anonymous_ids.update(message.anonymous_ids)
        linked = linked or message.include_linked_anonymous_ids
        who = message.requested_by or "unnamed"
        requesters.append(f"{who} (queued by {item.sender_id or 'unknown'}, message {item.message_id})")
    if not user_ids and not anonymous_ids:
        return outcome
    request = ErasureRequest(
        user_ids=frozenset(user_ids), anonymous_ids=frozenset(anonymous_ids), include_linked_anonymous_ids=linked
    )
    outcome.audit = LakeEraser(store).erase(request, requested_by="; ".join(requesters))
    return outcome
