"""Identity stitching rules (docs/identity.md): persons from links, independent of order, batching and replays."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.domain.identity import (
    ID_KIND_ANONYMOUS,
    ID_KIND_USER,
    LINK_ALIAS,
    LINK_EVENT,
    IdentityLink,
    format_link_time,
    links_from_events,
    merge_links,
    person_ids,
    person_of,
    resolve_identities,
    resolve_persons,
)

USERS = [f"u{i}" for i in range(5)]
ANONS = [f"a{i}" for i in range(6)]


def _at(minute: int) -> str:
    return f"2026-03-01T10:{minute:02d}:00.000Z"


def event_link(minute: int, anon: str, user: str, event_id: str | None = None) -> IdentityLink:
    return IdentityLink(_at(minute), event_id or f"e{minute}", ID_KIND_ANONYMOUS, anon, user, LINK_EVENT)


def alias_link(minute: int, previous: str, user: str, event_id: str | None = None) -> IdentityLink:
    return IdentityLink(_at(minute), event_id or f"e{minute}", ID_KIND_USER, previous, user, LINK_ALIAS)


links_strategy = st.lists(
    st.one_of(
        st.builds(event_link, st.integers(0, 59), st.sampled_from(ANONS), st.sampled_from(USERS)),
        st.builds(alias_link, st.integers(0, 59), st.sampled_from(USERS), st.sampled_from(USERS)).filter(
            lambda link: link.from_id != link.to_user_id
        ),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(links_strategy, st.randoms(use_true_random=False), st.lists(st.integers(0, 30), max_size=4))
def test_incremental_merge_of_shuffled_batches_resolves_like_one_shot(links, rng, cuts):
    # Given a set of links, shuffled and cut into batches
    shuffled = list(links)
    rng.shuffle(shuffled)
    bounds = [0, *sorted(c % (len(shuffled) + 1) for c in cuts), len(shuffled)]
    batches = [shuffled[a:b] for a, b in itertools.pairwise(bounds)]
    # When the batches are merged one after the other, as successive builds do
    stored: list[IdentityLink] = []
    for batch in batches:
        stored = merge_links(stored, batch)
    # Then the persons are those of a one-shot build
    assert resolve_identities(stored) == resolve_identities(links)
    assert resolve_persons(stored) == resolve_persons(links)


@settings(max_examples=200, deadline=None)
@given(links_strategy, st.data())
def test_replayed_links_change_nothing(links, data):
    # Given links and a replay of some of them (same event, or a later copy of the same link)
    replayed = data.draw(st.lists(st.sampled_from(links), max_size=10)) if links else []
    later = [
        IdentityLink(_at(59), "z-late", link.from_kind, link.from_id, link.to_user_id, link.link) for link in replayed
    ]
    # When they are resolved together
    # Then the identity table is the same
    assert resolve_identities([*links, *replayed, *later]) == resolve_identities(links)


@settings(max_examples=300, deadline=None)
@given(links_strategy)
def test_persons_are_roots_of_acyclic_alias_chains(links):
    # Given any links
    persons = resolve_persons(links)
    # Then every person id is a user id whose own person is itself (chains end, no cycle survives)
    for (_kind, _value), person in persons.items():
        assert persons[(ID_KIND_USER, person)] == person
    # And every id of a link has a row
    for link in links:
        assert (link.from_kind, link.from_id) in persons
        assert (ID_KIND_USER, link.to_user_id) in persons


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(event_link, st.integers(0, 59), st.sampled_from(ANONS), st.sampled_from(USERS))))
def test_a_shared_device_never_merges_two_user_ids(links):
    # Given only links from events that carry both ids (devices shared by several users included)
    persons = resolve_persons(links)
    # Then every user id stays its own person
    for user in {link.to_user_id for link in links}:
        assert persons[(ID_KIND_USER, user)] == user
    # And each device belongs to the user it was linked with first
    for anon in {link.from_id for link in links}:
        first = min(link for link in links if link.from_id == anon)
        assert persons[(ID_KIND_ANONYMOUS, anon)] == first.to_user_id


def test_a_device_shared_by_two_users_belongs_to_the_first_one():
    # Given a laptop used by u1, then by u2
    links = [event_link(5, "laptop", "u2"), event_link(1, "laptop", "u1")]
    # When resolved
    persons = resolve_persons(links)
    # Then the laptop's anonymous events are u1's, and u1 and u2 are two persons
    assert persons == {("anonymous", "laptop"): "u1", ("user", "u1"): "u1", ("user", "u2"): "u2"}


def test_the_first_link_at_the_same_time_is_the_smallest_event_id():
    # Given two links of one device at the same millisecond
    links = [event_link(3, "a", "u2", event_id="e-b"), event_link(3, "a", "u1", event_id="e-a")]
    # Then the smallest event id decides
    assert resolve_persons(links)[("anonymous", "a")] == "u1"


def test_alias_chains_resolve_transitively_to_the_final_user_id():
    # Given an anonymous visitor who became u1, then was renamed u2, then u3
    links = [alias_link(9, "u2", "u3"), event_link(1, "a", "u1"), alias_link(4, "u1", "u2")]
    # When resolved
    rows = {(r.id_kind, r.id): r for r in resolve_identities(links)}
    # Then every id of the chain is person u3
    assert {key: r.person_id for key, r in rows.items()} == {
        ("anonymous", "a"): "u3",
        ("user", "u1"): "u3",
        ("user", "u2"): "u3",
        ("user", "u3"): "u3",
    }
    # And each row says which link put the id into the person, and when
    assert (rows[("user", "u1")].link, rows[("user", "u1")].linked_at) == ("alias", _at(4))
    assert (rows[("anonymous", "a")].link, rows[("anonymous", "a")].linked_at) == ("event", _at(1))


def test_an_alias_that_would_close_a_cycle_is_ignored():
    # Given u1 -> u2, u2 -> u3, then (later) u3 -> u1
    links = [alias_link(1, "u1", "u2"), alias_link(2, "u2", "u3"), alias_link(3, "u3", "u1")]
    # Then the earlier aliases win: everyone is u3
    persons = resolve_persons(links)
    assert set(persons.values()) == {"u3"}
    # And the cycle-closing alias is ignored whatever the input order
    assert resolve_persons(list(reversed(links))) == persons


def test_a_user_id_follows_its_earliest_alias_only():
    # Given u1 aliased to u2, and later to u3
    links = [alias_link(7, "u1", "u3"), alias_link(2, "u1", "u2")]
    # Then u1 is u2's, and u3 stays its own person
    assert resolve_persons(links) == {("user", "u1"): "u2", ("user", "u2"): "u2", ("user", "u3"): "u3"}


def test_links_from_events_read_both_ids_and_alias_previous_ids():
    # Given enriched events: one carrying both ids, an analytics.js alias (previousId = its anonymousId), a
    # server-side alias from an old user id, and events that link nothing
    events = [
        {"event_id": "e1", "type": "track", "user_id": "u1", "anonymous_id": "a1", "timestamp": "2026-03-01 10:00:00"},
        {
            "event_id": "e2",
            "type": "alias",
            "user_id": "u1",
            "anonymous_id": "a2",
            "properties": json.dumps({"previousId": "a2"}),
            "timestamp": "2026-03-01T10:01:00Z",
        },
        {
            "event_id": "e3",
            "type": "alias",
            "user_id": "u9",
            "anonymous_id": None,
            "properties": {"previousId": "u1"},
            "timestamp": "2026-03-01T10:02:00.250+00:00",
        },
        {"event_id": "e4", "type": "track", "user_id": None, "anonymous_id": "a3", "timestamp": "2026-03-01T10:03Z"},
        {"event_id": "e5", "type": "page", "user_id": "u5", "anonymous_id": None, "timestamp": "2026-03-01T10:04Z"},
    ]
    # When their links are read
    links = links_from_events(events)
    # Then there is one link per id pair and kind, typed by what the previous id is
    assert [(link.from_kind, link.from_id, link.to_user_id, link.link) for link in links] == [
        ("anonymous", "a1", "u1", "event"),
        ("anonymous", "a2", "u1", "alias"),
        ("anonymous", "a2", "u1", "event"),
        ("user", "u1", "u9", "alias"),
    ]
    assert links[-1].linked_at == "2026-03-01T10:02:00.250Z"
    # And the person of each event follows: a1, a2 and u1 are now u9
    persons = resolve_persons(links)
    assert person_of(persons, None, "a2") == "u9"
    assert person_of(persons, "u1", "whatever") == "u9"
    assert person_of(persons, None, "a3") == "a3"
    assert person_of(persons, None, None) is None
    assert person_ids(persons, "u9") == {"user": ["u1", "u9"], "anonymous": ["a1", "a2"]}


def test_link_times_are_normalised_to_utc_milliseconds():
    # Given times in several ISO forms
    # Then they read as one fixed-width UTC form (so text order is time order)
    assert format_link_time("2026-03-01T12:00:00+02:00") == "2026-03-01T10:00:00.000Z"
    assert format_link_time("2026-03-01 10:00:00.123456") == "2026-03-01T10:00:00.123Z"


def test_links_round_trip_through_records():
    # Given a link
    link = alias_link(3, "u1", "u2")
    # Then its stored record reads back as the same link
    assert IdentityLink.from_record(link.to_record()) == link
