"""Size and shape limits of the ingestion API (the same as Segment's HTTP Tracking API)."""

from __future__ import annotations

# An event's size is the length of its compact JSON; a request's is the length of its (decompressed) body.
MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
# Identifiers become Kinesis partition keys (at most 256 characters) and dedup keys.
MAX_ID_CHARS = 256
# Corrected event times before this are refused: they come from unset device clocks, not from real events.
MIN_EVENT_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
DEFAULT_MAX_FUTURE_SECONDS = 24 * 3600
