"""Size and shape limits of the ingestion API (the same as Segment's HTTP Tracking API)."""

from __future__ import annotations

# A request's size is the length of its (decompressed) body. An event's size is measured the same way on every
# route (docs/api.md, Limits): as the client sent it, the length of its compact JSON (UTF-8, no escapes that are
# not needed), and as stored, the length of its enriched JSON line after the batch context is merged. Both must
# be within MAX_EVENT_BYTES.
MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
# Events in one batch: each one costs a stored row (stream or quarantine) and a line of the answer whatever its
# size, so a body of tiny events must not multiply into rows (and an answer past Lambda's 6 MB response limit).
MAX_BATCH_EVENTS = 5000
# Members of a gzip body (RFC 1952 allows a series): one per event is the most a streaming client produces, and
# each member costs an inflater even when it holds nothing.
MAX_GZIP_MEMBERS = MAX_BATCH_EVENTS
# What one request may put on the stream in all: a batch context within 32 KB merged into thousands of tiny
# events would otherwise multiply a 500 KB request a hundredfold. Real batches store about 1-3x their size
# (enrichment columns, the batch context merged), so 10x never refuses one.
MAX_STORED_BYTES_PER_REQUEST = 10 * MAX_REQUEST_BYTES
# The raw text of a quarantined event is cut past this (and marked `truncated`): an event over MAX_EVENT_BYTES as
# sent is invalid for its size, so nothing replayable is cut; the margin is for the `type` a single-event route
# adds to the event it quarantines.
MAX_QUARANTINED_RAW_BYTES = MAX_EVENT_BYTES + 64
# The quarantine object of one request: its events' raw text (at most about the body), the batch values once (at
# most the body) and a row of metadata per event (ids within MAX_ID_CHARS, a reason within 400 characters: under
# 1 KB). The worst requests within the limits write about half of it (docs/api.md, Quarantine).
MAX_QUARANTINE_BYTES_PER_REQUEST = 2 * MAX_REQUEST_BYTES + MAX_BATCH_EVENTS * 1024
# Identifiers become Kinesis partition keys (at most 256 characters) and dedup keys.
MAX_ID_CHARS = 256
# Corrected event times before this are refused: they come from unset device clocks, not from real events.
MIN_EVENT_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
DEFAULT_MAX_FUTURE_SECONDS = 24 * 3600
