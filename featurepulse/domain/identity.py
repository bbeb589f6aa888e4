"""Identity stitching: which ids belong to one person (docs/identity.md, docs/design.md).

Pure Python (standard library only, Python 3.9 compatible): the report job (Glue Python shell), the erasure
Lambda and the local runtime import it alike.

A link says "this id belongs to that user id":
- `event`: an event that carries both ids links its anonymous id to its user id;
- `alias`: an `alias` event links its previousId (in `properties`) to its user id. The previous id is taken as
  an anonymous id when it equals the alias event's own anonymousId (what analytics.js and the mobile SDKs
  send), else as an earlier user id.

`resolve_persons` turns a set of links into person ids with these rules (all decided in docs/identity.md):
- an anonymous id belongs to the user id it was linked with FIRST (earliest link time, then smallest event
  id): a shared device never merges two user ids;
- only `alias` links between user ids merge user ids; a user id has at most one successor (its earliest
  alias), chains resolve transitively, and an alias that would close a cycle is ignored (the earlier aliases
  win);
- person_id is the final user id of the chain; an id that was never linked has no row and is its own person.

The result depends only on the SET of links: not on their order, on how they were batched, or on replays
(`merge_links` keeps one link per (from, to, kind), the earliest). That is what makes the incremental
build of the identity table equal to a build from scratch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

ID_KIND_USER = "user"
ID_KIND_ANONYMOUS = "anonymous"
LINK_EVENT = "event"
LINK_ALIAS = "alias"
ID_KINDS = (ID_KIND_USER, ID_KIND_ANONYMOUS)
LINK_KINDS = (LINK_EVENT, LINK_ALIAS)

IdKey = tuple[str, str]  # (id_kind, id); builtin generics exist at run time from Python 3.9


def format_link_time(value: datetime | str) -> str:
    """ISO-8601 UTC with milliseconds and a trailing Z: fixed width, so text order is time order."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # noqa: UP017 - Python 3.9
    value = value.astimezone(timezone.utc)  # noqa: UP017
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True, order=True)
class IdentityLink:
    """One link: `from_id` (of kind `from_kind`) belongs to user id `to_user_id`, since `linked_at`.

    Field order is the sort order used by the rules: earliest first, then smallest event id.
    """

    linked_at: str  # format_link_time
    event_id: str
    from_kind: str  # 'user' | 'anonymous'
    from_id: str
    to_user_id: str
    link: str  # 'event' | 'alias'

    def __post_init__(self) -> None:
        if self.from_kind not in ID_KINDS:
            raise ValueError(f"from_kind must be one of {ID_KINDS}, got {self.from_kind!r}")
        if self.link not in LINK_KINDS:
            raise ValueError(f"link must be one of {LINK_KINDS}, got {self.link!r}")
        if not self.from_id or not self.to_user_id:
            raise ValueError("a link needs both ids")

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two links the same link (replays and re-reads of the same partition collapse)."""
        return (self.from_kind, self.from_id, self.to_user_id, self.link)

    @property
    def source(self) -> IdKey:
        return (self.from_kind, self.from_id)

    def to_record(self) -> dict[str, str]:
        return {
            "from_kind": self.from_kind,
            "from_id": self.from_id,
            "to_user_id": self.to_user_id,
            "linked_at": self.linked_at,
            "event_id": self.event_id,
            "link": self.link,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IdentityLink:
        return cls(
            linked_at=format_link_time(record["linked_at"]),
            event_id=str(record["event_id"]),
            from_kind=str(record["from_kind"]),
            from_id=str(record["from_id"]),
            to_user_id=str(record["to_user_id"]),
            link=str(record["link"]),
        )


@dataclass(frozen=True)
class IdentityRow:
    """One row of the `identities` table: a linked id and its person."""

    id_kind: str
    id: str
    person_id: str
    linked_at: str
    link: str

    def to_record(self) -> dict[str, str]:
        return {
            "id_kind": self.id_kind,
            "id": self.id,
            "person_id": self.person_id,
            "linked_at": self.linked_at,
            "link": self.link,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IdentityRow:
        return cls(**{k: str(record[k]) for k in ("id_kind", "id", "person_id", "linked_at", "link")})


def nonblank_text(value: Any) -> str | None:
    """A column's value as text; None when it is null, empty or blank."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def json_mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object column (`properties`: JSON text, or already a dict) as a mapping; {} for anything else."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (str, bytes)) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def links_from_event(event: Mapping[str, Any]) -> list[IdentityLink]:
    """The links one enriched event carries (a dict with the lake columns; `properties` JSON text or dict)."""
    user_id = nonblank_text(event.get("user_id"))
    if user_id is None:
        return []
    anonymous_id = nonblank_text(event.get("anonymous_id"))
    event_id = str(event.get("event_id") or "")
    when = event.get("timestamp")
    if when is None:
        return []
    linked_at = format_link_time(when)
    links: list[IdentityLink] = []
    if anonymous_id is not None:
        links.append(IdentityLink(linked_at, event_id, ID_KIND_ANONYMOUS, anonymous_id, user_id, LINK_EVENT))
    if event.get("type") == "alias":
        previous = nonblank_text(json_mapping(event.get("properties")).get("previousId"))
        if previous is not None and previous != user_id:
            kind = ID_KIND_ANONYMOUS if previous == anonymous_id else ID_KIND_USER
            links.append(IdentityLink(linked_at, event_id, kind, previous, user_id, LINK_ALIAS))
    return links


def links_from_events(events: Iterable[Mapping[str, Any]]) -> list[IdentityLink]:
    """Every link of the events, merged (one per (from, to, kind), the earliest)."""
    return merge_links(link for event in events for link in links_from_event(event))


def merge_links(*link_sets: Iterable[IdentityLink]) -> list[IdentityLink]:
    """Union of link sets, one link per (from_kind, from_id, to_user_id, link): the earliest (then the one of
    the smallest event id). Commutative, associative and idempotent, so batches and replays do not matter."""
    best: dict[tuple[str, str, str, str], IdentityLink] = {}
    for links in link_sets:
        for link in links:
            current = best.get(link.key)
            if current is None or link < current:
                best[link.key] = link
    return sorted(best.values())


def _successors(links: list[IdentityLink]) -> dict[str, IdentityLink]:
    """user id -> the alias that gives it its successor: the earliest alias of that user id that does not
    close a cycle (aliases are considered in time order, so an earlier alias always wins)."""
    successor: dict[str, IdentityLink] = {}
    for link in links:  # sorted: earliest first
        if link.link != LINK_ALIAS or link.from_kind != ID_KIND_USER or link.from_id in successor:
            continue
        # Would from_id -> to_user_id close a cycle? Follow the chain from the new successor.
        current: str | None = link.to_user_id
        seen: set[str] = set()
        while current is not None and current not in seen and current != link.from_id:
            seen.add(current)
            nxt = successor.get(current)
            current = nxt.to_user_id if nxt is not None else None
        if current == link.from_id:
            continue
        successor[link.from_id] = link
    return successor


def _final(user_id: str, successor: Mapping[str, IdentityLink]) -> str:
    seen = {user_id}
    while user_id in successor:
        user_id = successor[user_id].to_user_id
        if user_id in seen:  # pragma: no cover - _successors never builds a cycle
            break
        seen.add(user_id)
    return user_id


def resolve_identities(links: Iterable[IdentityLink]) -> list[IdentityRow]:
    """The `identities` rows of a set of links: one per linked id, sorted by (id_kind, id)."""
    ordered = merge_links(links)
    successor = _successors(ordered)
    rows: dict[IdKey, IdentityRow] = {}
    for link in ordered:  # earliest first: the first link of an id is the one that stays
        if link.from_kind == ID_KIND_ANONYMOUS:
            if link.source not in rows:
                person = _final(link.to_user_id, successor)
                rows[link.source] = IdentityRow(ID_KIND_ANONYMOUS, link.from_id, person, link.linked_at, link.link)
        elif link.from_kind == ID_KIND_USER and successor.get(link.from_id) == link:
            person = _final(link.from_id, successor)
            rows[link.source] = IdentityRow(ID_KIND_USER, link.from_id, person, link.linked_at, link.link)
    for link in ordered:
        # A user id that is only a target, or whose aliases were ignored: its own chain, from its first link.
        for user_id in (link.to_user_id, link.from_id if link.from_kind == ID_KIND_USER else None):
            if user_id is not None and (ID_KIND_USER, user_id) not in rows:
                person = _final(user_id, successor)
                rows[(ID_KIND_USER, user_id)] = IdentityRow(ID_KIND_USER, user_id, person, link.linked_at, link.link)
    return [rows[key] for key in sorted(rows)]


def resolve_persons(links: Iterable[IdentityLink]) -> dict[IdKey, str]:
    """(id_kind, id) -> person_id for every linked id. Ids not in the result are their own person."""
    return {(row.id_kind, row.id): row.person_id for row in resolve_identities(links)}


def person_of(
    persons: Mapping[IdKey, str],
    user_id: str | None,
    anonymous_id: str | None,
) -> str | None:
    """How an event is attributed: the person of its user id when set, else of its anonymous id, else the raw
    id (the same coalesce the base view `person_events` computes)."""
    if user_id:
        return persons.get((ID_KIND_USER, user_id), user_id)
    if anonymous_id:
        return persons.get((ID_KIND_ANONYMOUS, anonymous_id), anonymous_id)
    return None


def person_ids(persons: Mapping[IdKey, str], person_id: str) -> dict[str, list[str]]:
    """Every linked id of one person, by kind ('user', 'anonymous'); empty lists for an unlinked id."""
    out: dict[str, list[str]] = {ID_KIND_USER: [], ID_KIND_ANONYMOUS: []}
    for (kind, value), person in sorted(persons.items()):
        if person == person_id:
            out[kind].append(value)
    return out
