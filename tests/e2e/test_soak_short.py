"""End to end, the short soak: 20,000 events through the local pipeline while clients resend requests, PutRecords is
throttled and partially refused, Kinesis refuses every call for a while (requests answered 503 and sent again),
the lake writer crashes and restarts and the Flink job is killed and restarted from its checkpoint
(featurepulse/local/soak.py; `make soak` runs the same with 1,000,000 events).

Every check is exact; none depends on how fast this machine is (the drain and start limits only stop a hung run).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from featurepulse.local.soak import SoakOptions, SoakResult, run_soak
from featurepulse.realtime.local import flink_python

pytestmark = [pytest.mark.flink, pytest.mark.slow]

EVENTS = 20_000


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> SoakResult:
    if not flink_python().exists() or shutil.which("java") is None:
        pytest.fail("needs .venv-flink and a JDK: run `make setup`")
    root: Path = tmp_path_factory.mktemp("soak") / ".featurepulse"
    # Given 20,000 events sent under every injected fault
    return run_soak(SoakOptions(events=EVENTS, root=root), log=lambda line: None)


def test_every_fault_was_injected_while_the_events_went_in(soak: SoakResult):
    # Then clients resent requests, PutRecords was throttled and partially refused, both components restarted
    assert soak.resent_requests > 0
    assert soak.faults.throttled_calls > 0
    assert soak.faults.partial_calls > 0 and soak.faults.refused_records > 0
    # and Kinesis outages made the API answer 503, and the clients sent those requests again
    assert soak.faults.outages > 0 and soak.faults.outage_calls > 0
    assert soak.answered_503 > 0
    assert soak.statuses[503] >= soak.answered_503 and soak.retried_requests >= soak.answered_503
    assert soak.lake_restarts == 1
    assert soak.flink_restarts == 1 and soak.restored_checkpoint.startswith("chk-")
    # and every valid event was eventually accepted (the client resends until the API says 200)
    assert soak.undeliverable == 0
    assert len(soak.accepted) == soak.valid_sent > EVENTS * 0.9


def test_the_lake_holds_every_accepted_event_exactly_once(soak: SoakResult):
    # Then the lake's (source_id, event_id) pairs are the accepted events, and no pair has two rows
    assert soak.lake_missing == 0
    assert soak.lake_unexpected == 0
    assert soak.lake_duplicates == 0
    assert soak.lake_keys == soak.accepted


def test_the_aggregates_are_the_reference_model_of_the_jobs_input(soak: SoakResult):
    # Then the job read every accepted event (resent and re-put copies on the stream included, dropped once each)
    assert soak.job_input_keys == soak.accepted
    assert soak.deduplicated > 0
    # and its table has exactly the reference model's items
    assert soak.expected_items > 0
    assert (soak.missing_items, soak.extra_items) == ([], [])
    assert soak.actual_items == soak.expected_items
    # and every attribute of every item is the model's, the distinct-person counters of the windows that were open
    # when the job was killed included (the model forgets the identity links where the job restarted)
    assert soak.items_at_kill
    assert soak.wrong_items == []
    assert soak.aggregates_ok


def test_the_quarantine_holds_exactly_the_invalid_events_sent(soak: SoakResult):
    # Then every invalid event the generator sent is in the quarantine, and nothing else
    assert soak.invalid_sent
    assert soak.quarantined_ids == soak.invalid_sent
