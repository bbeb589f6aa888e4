"""The time budget of one API request, end to end (docs/design.md section 1, "a 2xx means durably stored").

A Lambda is killed at its timeout, whatever it was doing: a request that runs past it has written some
records and answered nothing, and API Gateway answers 502 for it. So each request gets one budget, the Lambda
context's remaining time less a reserve for the answer, and each step spends what the steps before it left:
a call to AWS starts only when its worst case (connect + read timeout of its client, `attempt_ms`) still fits,
and is retried only when another attempt still fits. When it does not, the step stops and the API answers 503
with Retry-After: nothing is acknowledged that is not stored, and what was stored arrives again with the retry
and is dropped downstream as a duplicate (same source and event_id).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

T = TypeVar("T")

# Error codes of a whole call worth another attempt (throttling, a server-side hiccup).
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "KMSThrottlingException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalFailure",
        "InternalFailureException",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
RETRY_BASE_DELAY_MS = 50


class BudgetExhaustedError(Exception):
    """The request's time budget cannot fit the next call to AWS: answer 503 (the client sends it again)."""


@dataclass(frozen=True)
class TimeBudget:
    """What one request may still spend, in ms, read from a remaining-time function (the Lambda context's)."""

    remaining_ms: Callable[[], float]

    def allows(self, ms: float) -> bool:
        """Whether `ms` more still fit in the budget."""
        return self.remaining_ms() >= ms

    def clock(self) -> float:
        """Seconds, increasing as the budget is spent (a monotonic clock for the stream's retry loop)."""
        return -self.remaining_ms() / 1000

    @classmethod
    def unbounded(cls) -> TimeBudget:
        return cls(lambda: math.inf)

    @classmethod
    def from_remaining_time(cls, remaining_ms: Callable[[], int], *, reserve_ms: int) -> TimeBudget:
        """The budget of a Lambda invocation: its remaining time less `reserve_ms` kept for the answer."""
        return cls(lambda: remaining_ms() - reserve_ms)


def is_retryable(error: Exception) -> bool:
    """A failure that another attempt may not meet: throttling, a 5xx, a dropped or timed-out connection."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return str(details.get("Code", "")) in RETRYABLE_ERROR_CODES or status >= 500
    return isinstance(error, ConnectionError | HTTPClientError)


def call_within_budget(
    call: Callable[[], T],
    *,
    budget: TimeBudget,
    attempt_ms: float,
    max_attempts: int = 2,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """`call()`, started only when `attempt_ms` (its worst case) fits in the budget; a retryable failure is tried
    again, after a short jittered wait, while attempts are left and another one fits. Raises
    `BudgetExhaustedError` when the first attempt does not fit, else the last attempt's error."""
    if not budget.allows(attempt_ms):
        raise BudgetExhaustedError(f"{budget.remaining_ms():.0f} ms left; a call may take {attempt_ms:.0f} ms")
    attempt = 1
    while True:
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            delay_ms = jitter() * RETRY_BASE_DELAY_MS * 2**attempt
            if attempt >= max_attempts or not is_retryable(exc) or not budget.allows(delay_ms + attempt_ms):
                raise
        sleep(delay_ms / 1000)
        attempt += 1
