"""Live persons: the person of each stream event, from the identity links seen so far (docs/realtime.md,
"Live persons and the daily correction").

The rules are those of the batch (docs/design.md, identity): links come from events carrying both ids and from
`alias` events (previousId -> userId), extracted and resolved by the pure resolver `featurepulse.domain.identity`.
A link changes the persons of its connected ids only, so each new link re-resolves its connected component
(a handful of ids: one person's devices, a shared device's users), not every link ever seen.

What the stream cannot do is re-attribute events already counted. So that the common case counts once anyway,
the key an event is counted under (`person_key`) is sticky: when a link makes an id that was counted as its own
person part of a person not counted yet, that person keeps being counted under the id's key. A visitor who
browses anonymously and then signs in is one person live, as in the report. Two ids that were each counted
before they were linked (two devices of one person, both active before signing in) stay two until the day is
final and the batch corrects the day rows (featurepulse/realtime/finalize.py).

State is in the operator (per parallel subtask, lost on restart; the batch corrects the day) and bounded:
at most `max_ids` ids and persons are remembered, the least recently seen forgotten first. A forgotten id
counts as its own person again.

Standard library only: the Flink job imports this module.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable
from typing import TypeVar

from featurepulse.domain import identity
from featurepulse.domain.identity import IdentityLink, IdKey
from featurepulse.realtime.events import EngagementEvent
from featurepulse.realtime.windows import format_instant

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_MAX_IDS = 100_000  # per subtask; a few hundred bytes each
MAX_COMPONENT_LINKS = 1_000  # a component larger than this is resolved from its first links only


class LivePersons:
    """Resolves each event's person and the key it is counted under, in arrival order."""

    def __init__(self, max_ids: int = DEFAULT_MAX_IDS) -> None:
        self.max_ids = max_ids
        # Links touching each id (as source or target user id), least recently used first.
        self._links: OrderedDict[IdKey, dict[tuple[str, str, str, str], IdentityLink]] = OrderedDict()
        self._persons: OrderedDict[IdKey, str] = OrderedDict()  # linked id -> person id
        self._keys: OrderedDict[str, str] = OrderedDict()  # person id -> the key it is counted under
        self._known_pairs: OrderedDict[tuple[str, str], None] = OrderedDict()  # (anonymous, user) already seen

    def person_key(
        self,
        *,
        event_id: str,
        event_time_ms: int,
        user_id: str | None,
        anonymous_id: str | None,
        alias_previous_id: str | None = None,
    ) -> str | None:
        """Learn the event's links, then return the key its person is counted under (None: no id at all)."""
        if user_id is not None and (alias_previous_id is not None or anonymous_id is not None):
            pair = (anonymous_id or "", user_id)
            if alias_previous_id is not None or pair not in self._known_pairs:
                raw = {
                    "event_id": event_id,
                    "timestamp": format_instant(event_time_ms),  # only when there is a link to learn
                    "user_id": user_id,
                    "anonymous_id": anonymous_id,
                    "type": "alias" if alias_previous_id is not None else "track",
                    "properties": {"previousId": alias_previous_id},
                }
                self.learn(identity.links_from_event(raw))
                _touch(self._known_pairs, pair, None, self.max_ids)
        person = identity.person_of(self._persons, user_id, anonymous_id)
        if person is None:
            return None
        key = self._keys.get(person)
        if key is None:
            key = person
        _touch(self._keys, person, key, self.max_ids)
        return key

    def resolve(self, event: EngagementEvent) -> EngagementEvent:
        """The event with its `person_key` set (see `person_key`)."""
        key = self.person_key(
            event_id=event.event_id,
            event_time_ms=event.event_time_ms,
            user_id=event.user_id,
            anonymous_id=event.anonymous_id,
            alias_previous_id=event.alias_previous_id,
        )
        return dataclasses.replace(event, person_key=key)

    def learn(self, links: Iterable[IdentityLink]) -> None:
        """Add links and re-resolve the persons of the ids they connect."""
        new = [link for link in links if not self._knows(link)]
        if not new:
            return
        for link in new:
            for key in (link.source, (identity.ID_KIND_USER, link.to_user_id)):
                known = self._links.get(key) or {}
                current = known.get(link.key)
                if current is None or link < current:
                    known[link.key] = link
                _touch(self._links, key, known, self.max_ids)
        component = self._component(new)
        ids = {key for link in component for key in (link.source, (identity.ID_KIND_USER, link.to_user_id))}
        before = {key: self._persons.get(key, key[1]) for key in ids}
        resolved = identity.resolve_persons(component)
        # Sticky keys: a person not counted yet is counted under the key of an id that was its own person and
        # already counted (the anonymous visitor who just signed in); the first such id wins.
        inherited: dict[str, str] = {}
        for id_key in sorted(ids):
            person = resolved.get(id_key, id_key[1])
            _touch(self._persons, id_key, person, self.max_ids)
            was = before[id_key]
            if person != was and was == id_key[1] and person not in self._keys and was in self._keys:
                inherited.setdefault(person, self._keys[was])
        for person, counted_as in inherited.items():
            _touch(self._keys, person, counted_as, self.max_ids)

    def _knows(self, link: IdentityLink) -> bool:
        known = self._links.get(link.source)
        current = None if known is None else known.get(link.key)
        return current is not None and not link < current

    def _component(self, seeds: list[IdentityLink]) -> list[IdentityLink]:
        """Every remembered link connected to the seeds (bounded)."""
        found: dict[tuple[str, str, str, str], IdentityLink] = {}
        todo = [key for link in seeds for key in (link.source, (identity.ID_KIND_USER, link.to_user_id))]
        seen: set[IdKey] = set()
        while todo and len(found) < MAX_COMPONENT_LINKS:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            for link in (self._links.get(key) or {}).values():
                if link.key not in found:
                    found[link.key] = link
                    todo += [link.source, (identity.ID_KIND_USER, link.to_user_id)]
        return list(found.values())

    def __len__(self) -> int:
        return len(self._persons)


def _touch(store: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    """Set and mark most recently used; forget the least recently used beyond `limit`."""
    store[key] = value
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)
