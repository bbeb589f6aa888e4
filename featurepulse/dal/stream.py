"""Put stream records on Kinesis: PutRecords in chunks, retrying only the failed records, inside a time budget.

Kinesis accepts or refuses each record of a PutRecords call on its own (`FailedRecordCount`, a per-record
`ErrorCode`: `ProvisionedThroughputExceededException` or `InternalFailure`). Only the refused records are sent
again, after an exponential backoff with full jitter (a random delay between 0 and base * 2^attempt, capped),
until all are on the stream or the next wait would end after the time budget. A call refused as a whole by a
retryable error (throttling, a dropped connection) retries its records the same way; a call that can never
succeed (missing stream, access denied) stops at once.

The time budget bounds when a retry may start; `request_budget` (the whole API request's, `featurepulse.dal.budget`)
bounds every call: a PutRecords call starts only when its worst case (`attempt_ms`, the client's connect plus
read timeout) still fits in what the request has left, else its records are reported failed at once.

The outcome says whether every record is on the stream. When one is not, the API answers 503 and reports no
event as accepted: the client sends the whole request again. Records that did reach the stream then arrive a
second time with the same `event_id`, and every consumer drops the duplicates (dedup on `event_id`), so the
retry is safe and nothing is lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from featurepulse.dal.budget import TimeBudget
from featurepulse.dal.clients import KINESIS_ATTEMPT_MS
from featurepulse.domain.packing import StreamRecord, chunk_for_put

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import PutRecordsRequestEntryTypeDef

THROTTLED = "ProvisionedThroughputExceededException"
# Errors of a whole call worth another attempt; any other ClientError is a configuration problem.
RETRYABLE_CALL_ERRORS = frozenset(
    {
        THROTTLED,
        "LimitExceededException",
        "KMSThrottlingException",
        "ThrottlingException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
BASE_DELAY_MS = 50
MAX_DELAY_MS = 1000
BUDGET_EXHAUSTED = "TimeBudgetExhausted"


@dataclass
class PutOutcome:
    """What happened to one request's records."""

    records: int
    calls: int = 0
    retried_records: int = 0
    throttled_records: int = 0
    failed: list[StreamRecord] = field(default_factory=list)
    last_error: str | None = None

    @property
    def complete(self) -> bool:
        """Every record is on the stream."""
        return not self.failed


def put_events_to_stream(
    client: KinesisClient,
    stream_name: str,
    records: Sequence[StreamRecord],
    *,
    time_budget_ms: int,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[], float] = random.random,
    request_budget: TimeBudget | None = None,
    attempt_ms: float = KINESIS_ATTEMPT_MS,
) -> PutOutcome:
    """Put `records` on the stream; retry only the refused ones while the time budget allows; start no call that
    may not end within `request_budget`."""
    outcome = PutOutcome(records=len(records))
    deadline = clock() + time_budget_ms / 1000
    pending = list(records)
    attempt = 0
    while pending:
        refused: list[StreamRecord] = []
        chunks = chunk_for_put(pending)
        for position, chunk in enumerate(chunks):
            if request_budget is not None and not request_budget.allows(attempt_ms):
                outcome.last_error = BUDGET_EXHAUSTED
                outcome.failed = refused + [r for c in chunks[position:] for r in c]
                return outcome
            outcome.calls += 1
            try:
                response = client.put_records(StreamName=stream_name, Records=_entries(chunk))
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
                outcome.last_error = code
                if code == THROTTLED:
                    outcome.throttled_records += len(chunk)
                if code not in RETRYABLE_CALL_ERRORS:
                    outcome.failed = refused + [r for c in chunks[position:] for r in c]
                    return outcome
                refused.extend(chunk)
                continue
            except BotoCoreError as exc:  # connection refused/reset, read timeout: the records may be lost
                outcome.last_error = type(exc).__name__
                refused.extend(chunk)
                continue
            if response.get("FailedRecordCount", 0):
                for record, result in zip(chunk, response["Records"], strict=True):
                    record_error = result.get("ErrorCode")
                    if record_error:
                        refused.append(record)
                        outcome.last_error = record_error
                        if record_error == THROTTLED:
                            outcome.throttled_records += 1
        if not refused:
            return outcome
        attempt += 1
        delay = jitter() * min(MAX_DELAY_MS, BASE_DELAY_MS * 2**attempt) / 1000
        if clock() + delay > deadline:
            outcome.failed = refused
            return outcome
        if request_budget is not None and not request_budget.allows(delay * 1000 + attempt_ms):
            outcome.last_error = BUDGET_EXHAUSTED
            outcome.failed = refused
            return outcome
        sleep(delay)
        outcome.retried_records += len(refused)
        pending = refused
    return outcome


def _entries(chunk: Sequence[StreamRecord]) -> list[PutRecordsRequestEntryTypeDef]:
    return [{"Data": record.data, "PartitionKey": record.partition_key} for record in chunk]
