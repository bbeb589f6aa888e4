"""Reading stream records in the job: the same events `packing.unpack_record` reads, bad lines counted."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from featurepulse.domain import stages
from featurepulse.domain.packing import pack_events, unpack_record
from featurepulse.realtime.events import (
    STAGES,
    EngagementEvent,
    UnreadableEventError,
    engagement_from_enriched,
    unpack_engagement,
)
from tests import realtime_scenario


def test_stage_names_are_those_of_the_ingest():
    assert STAGES == stages.STAGES


def _record_data(events):
    records = pack_events((e["user_id"] or e["anonymous_id"], e["event_id"], json.dumps(e).encode()) for e in events)
    return [r.data for r in records]


def test_unpacks_every_event_of_packed_records_like_the_shared_unpacker():
    # Given the scenario's enriched events packed into stream records
    events = [e for phase in realtime_scenario.raw_phases() for e in phase]
    for data in _record_data(events):
        # When the job and the shared unpacker read a record
        ours = list(unpack_engagement(data))
        shared = [engagement_from_enriched(obj) for obj in unpack_record(data)]
        # Then they see the same events, in the same order
        assert ours == shared


def test_reads_the_engagement_fields():
    event = realtime_scenario.raw_phases()[0][1]
    assert engagement_from_enriched(event) == EngagementEvent(
        event_id="e02",
        event_time_ms=1_740_819_620_000,
        source_id="src-web",
        user_id="u1",
        anonymous_id="dev-u1",
        feature="checkout",
        stage="use",
        campaign="spring",
        experiment_id="exp-1",
        variation_id="A",
        duration_ms=1200,
    )


def test_the_event_is_identified_by_its_source_and_message_id():
    # Given the same messageId from two sources
    base = {"event_id": "order-1001", "timestamp": "2025-03-01T09:00:00.000Z", "user_id": "u"}
    web = engagement_from_enriched({**base, "source_id": "src-web"})
    ios = engagement_from_enriched({**base, "source_id": "src-ios"})
    # Then they are two events for the de-duplication
    assert (web.dedup_key, ios.dedup_key) == (("src-web", "order-1001"), ("src-ios", "order-1001"))


def test_anonymous_event_has_its_device_id_no_person_yet_and_bad_duration_is_ignored():
    e = engagement_from_enriched(
        {"event_id": "x", "timestamp": "2025-03-01T09:00:00.000Z", "anonymous_id": "dev-9", "duration_ms": -5}
    )
    assert (e.user_id, e.anonymous_id, e.person_key, e.duration_ms, e.duration_bucket) == (
        None,
        "dev-9",
        None,
        None,
        None,
    )


def test_alias_event_carries_its_previous_id_and_other_events_none():
    # Given an alias event (previousId in the properties JSON text) and a track event with a previousId property
    alias = {
        "event_id": "a",
        "timestamp": "2025-03-01T09:00:00.000Z",
        "type": "alias",
        "user_id": "u-new",
        "properties": '{"previousId": "u-old"}',
    }
    track = {**alias, "type": "track"}
    # Then only the alias event is a link
    assert engagement_from_enriched(alias).alias_previous_id == "u-old"
    assert engagement_from_enriched(track).alias_previous_id is None
    assert engagement_from_enriched({**alias, "properties": "not json"}).alias_previous_id is None


def test_unreadable_lines_are_reported_and_the_rest_of_the_record_kept():
    good = json.dumps({"event_id": "ok", "timestamp": "2025-03-01T09:00:00.000Z", "user_id": "u"})
    data = "\n".join(["{not json", "[1]", json.dumps({"event_id": "no-time"}), good, ""]).encode()
    out = list(unpack_engagement(data))
    assert [type(o) for o in out] == [UnreadableEventError] * 3 + [EngagementEvent]
    assert out[-1].event_id == "ok"


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "event_id": st.text(min_size=1, max_size=8),
                "timestamp": st.just("2025-03-01T09:00:00.123Z"),
                "user_id": st.one_of(st.none(), st.text(min_size=1, max_size=5)),
                "anonymous_id": st.text(min_size=1, max_size=5),
                "feature": st.one_of(st.none(), st.text(max_size=5)),
                "duration_ms": st.one_of(st.none(), st.integers(0, 10**9)),
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_packing_is_unpacked_to_the_same_events(events):
    records = pack_events(((e["user_id"] or e["anonymous_id"]), e["event_id"], json.dumps(e).encode()) for e in events)
    unpacked = [u for r in records for u in unpack_engagement(r.data)]
    assert sorted(u.event_id for u in unpacked) == sorted(e["event_id"] for e in events)
