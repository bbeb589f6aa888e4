"""The real PyFlink job reads gzip stream records: the scenario packed with every record compressed (larger
batches than the scenario's are, over the 5 KB that stays plain) gives the reference model's items.

The record's bytes reach the job as the AWS Kinesis source hands them over (raw format, ISO-8859-1 text: one
character per byte, featurepulse/realtime/sql.py RECORD_CHARSET) and are decompressed by the one rule of
featurepulse/domain/record_format.py. One mini-cluster start (10-30 s on a busy machine).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from featurepulse.domain.packing import GZIP_MAGIC, pack_events, record_text
from featurepulse.realtime.model import reference_items
from tests import realtime_scenario
from tests.integration.test_flink_job import Job, _table, _wait_for, dynamodb, moto_endpoint

pytestmark = [pytest.mark.flink, pytest.mark.slow]

__all__ = ["dynamodb", "moto_endpoint"]  # the fixtures this module uses


def _gzip_records(events: list[dict[str, Any]]) -> list[bytes]:
    """The records ingest packs, each compressed as a larger record would be (same bytes, gzip container)."""
    records = pack_events((e["user_id"] or e["anonymous_id"], e["event_id"], json.dumps(e).encode()) for e in events)
    out = [zlib.compress(record_text(r.data), 6, wbits=31) for r in records]
    assert all(data.startswith(GZIP_MAGIC) for data in out)
    return out


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, dynamodb: Any) -> Iterator[Job]:
    started = Job(tmp_path_factory.mktemp("gzip-job"), moto_endpoint)
    yield started
    started.stop()


def test_the_job_aggregates_gzip_records_like_the_reference_model(job: Job, dynamodb: Any) -> None:
    settings = realtime_scenario.settings()
    raw, phases = realtime_scenario.raw_phases(), realtime_scenario.phases()
    # Given the scenario's phases, every record gzip-compressed, sent one after another
    for k, phase in enumerate(raw):
        job.spool.write(_gzip_records(phase))
        # Then after each phase the table holds exactly what the model says
        _wait_for(lambda: _table(dynamodb), reference_items(phases[: k + 1], settings), job, f"phase {k + 1}")
