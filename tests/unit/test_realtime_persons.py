"""Live persons: each stream event's person from the links seen so far, with the batch's identity rules."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.domain import identity
from featurepulse.realtime.persons import LivePersons
from featurepulse.realtime.windows import parse_instant_ms

T0 = parse_instant_ms("2025-03-01T09:00:00.000Z")


def _time(second: int) -> str:
    return f"2025-03-01T09:{second // 60:02d}:{second % 60:02d}.000Z"


def _event(
    n: int, user: str | None = None, anonymous: str | None = None, previous: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": f"e{n:04d}",
        "timestamp": _time(n),
        "type": "alias" if previous is not None else "track",
        "user_id": user,
        "anonymous_id": anonymous,
        "properties": {"previousId": previous} if previous is not None else {},
    }


def _live_keys(events: list[dict[str, Any]], persons: LivePersons | None = None) -> list[str | None]:
    persons = persons or LivePersons()
    return [
        persons.person_key(
            event_id=e["event_id"],
            event_time_ms=parse_instant_ms(e["timestamp"]),
            user_id=e["user_id"],
            anonymous_id=e["anonymous_id"],
            alias_previous_id=e["properties"].get("previousId"),
        )
        for e in events
    ]


def _batch_persons(events: list[dict[str, Any]]) -> list[str | None]:
    resolved = identity.resolve_persons(identity.links_from_events(events))
    return [identity.person_of(resolved, e["user_id"], e["anonymous_id"]) for e in events]


def test_anonymous_visitor_who_signs_in_counts_once_from_the_link_on():
    # Given a device browsing anonymously, then signing in as u1, then browsing signed out
    events = [_event(1, anonymous="dev-1"), _event(2, "u1", "dev-1"), _event(3, anonymous="dev-1"), _event(4, "u1")]
    # When the live resolver sees them in that order
    keys = _live_keys(events)
    # Then every event is counted under one key (the device's, under which the person was first counted)
    assert keys == ["dev-1"] * 4
    # And the batch also sees one person (u1)
    assert set(_batch_persons(events)) == {"u1"}


def test_a_known_user_seen_first_is_counted_under_its_user_id():
    events = [
        _event(1, "u1", "dev-1"),
        _event(2, anonymous="dev-1"),
        _event(3, "u1", "dev-2"),
        _event(4, None, "dev-2"),
    ]
    assert _live_keys(events) == ["u1"] * 4


def test_shared_device_belongs_to_its_first_user_and_never_merges_two_users():
    # Given device dev-s signed in as u1, later as u2, then used anonymously
    events = [_event(1, "u1", "dev-s"), _event(2, "u2", "dev-s"), _event(3, anonymous="dev-s"), _event(4, "u2")]
    keys = _live_keys(events)
    # Then u1 and u2 stay two persons, and the anonymous event is u1's (the first link)
    assert keys == ["u1", "u2", "u1", "u2"]
    assert _batch_persons(events) == ["u1", "u2", "u1", "u2"]


def test_alias_merges_the_previous_user_into_the_new_one_and_a_cycle_is_ignored():
    # Given u-old active, renamed to u-new (alias), then a later alias back (would close a cycle)
    events = [
        _event(1, "u-old", "dev-1"),
        _event(2, "u-new", previous="u-old"),
        _event(3, "u-new"),
        _event(4, "u-old", previous="u-new"),
        _event(5, "u-old"),
    ]
    keys = _live_keys(events)
    # Then all are one person, counted under the key it was first counted under
    assert keys == ["u-old"] * 5
    assert set(_batch_persons(events)) == {"u-new"}


def test_two_ids_counted_before_their_link_stay_two_until_the_batch_corrects_them():
    # Given two devices of one person, each active before signing in
    events = [_event(1, anonymous="phone"), _event(2, anonymous="laptop"), _event(3, "u1", "phone")]
    events += [_event(4, "u1", "laptop"), _event(5, anonymous="laptop")]
    keys = _live_keys(events)
    # Then the stream counts two (the laptop's early event cannot be re-attributed), the batch one
    assert len(set(keys)) == 2
    assert keys[2:] == ["phone", "phone", "phone"]
    assert len(set(_batch_persons(events))) == 1


def test_state_is_bounded_and_a_forgotten_id_counts_as_its_own_person():
    # Given a resolver that remembers 10 ids and 50 persons signing in
    persons = LivePersons(max_ids=10)
    for n in range(50):
        persons.person_key(event_id=f"e{n}", event_time_ms=T0, user_id=f"u{n}", anonymous_id=f"dev-{n}")
    # Then it holds at most 10 ids, and the first device, forgotten, is its own person again
    assert len(persons) <= 10
    assert persons.person_key(event_id="x", event_time_ms=T0, user_id=None, anonymous_id="dev-0") == "dev-0"
    # While a recent one is still resolved
    assert persons.person_key(event_id="y", event_time_ms=T0, user_id=None, anonymous_id="dev-49") == "u49"


def test_event_without_any_id_has_no_person():
    assert _live_keys([_event(1)]) == [None]


_USERS = st.sampled_from(["u1", "u2", "u3", "u4"])
_DEVICES = st.sampled_from(["d1", "d2", "d3"])
_LINK = st.one_of(
    st.tuples(st.just("event"), _DEVICES, _USERS),
    st.tuples(st.just("alias"), st.one_of(_USERS, _DEVICES), _USERS),
)
_PLAIN = st.one_of(st.tuples(st.just("user"), _USERS), st.tuples(st.just("device"), _DEVICES))


@settings(max_examples=200, deadline=None)
@given(links=st.lists(_LINK, max_size=8), plain=st.lists(_PLAIN, max_size=12))
def test_events_after_their_links_are_grouped_into_the_batch_persons(links, plain):
    # Given link events (both ids, or alias) in time order, then events carrying one id
    events: list[dict[str, Any]] = []
    for kind, source, user in links:
        n = len(events)
        if kind == "event":
            events.append(_event(n, user, source))
        elif source != user:
            events.append(_event(n, user, source if source.startswith("d") else None, previous=source))
    for kind, value in plain:
        n = len(events)
        events.append(_event(n, value) if kind == "user" else _event(n, anonymous=value))
    # When the stream resolves them in order and the batch resolves them with every link
    first_plain = len(events) - len(plain)
    live, batch = _live_keys(events)[first_plain:], _batch_persons(events)[first_plain:]
    # Then the events after the links are grouped into the same persons (the names of the keys may differ).
    # The link events themselves may count twice: a link can join two ids that were both counted already.
    assert len(set(live)) == len(set(batch))
    assert len(set(zip(live, batch, strict=True))) == len(set(batch))
