"""Traits: who a person is, as the latest value per (person, trait) (docs/segments.md).

Pure Python (standard library only, Python 3.9 compatible), the reference of `athena_queries/person_traits.sql`:
the tests run the view on DuckDB and compare it with `person_traits` here, row by row.

Where traits come from:
- `identify` events: the lake row's `properties` is the call's `traits` object; each key is a trait of the
  event's person (attributed as in `person_events`: the person of its user id, else of its anonymous id);
- `group` events: `properties` is `{"groupId": ..., "traits": {...}}`; the traits belong to the ACCOUNT
  (groupId), and the event makes the groupId its person's account. A person sees the traits of their latest
  account (latest group event, then greatest groupId) as `account.<trait>`;
- CRM imports (table `trait_imports`): rows keyed by user id (`key_kind` 'user', attributed like an event's
  user id) or by account id (`key_kind` 'account', traits of that account). Their time is `imported_at`.

The rule: for each (person, trait), the newest value wins whatever its origin; ties go to the greater value,
then the greater origin name (text order), so the answer never depends on row order. The same rule picks an
account's value of a trait before it is shown to its persons. A trait whose value is JSON null is not a value
(it sets nothing); strings are taken as they are, other scalars as their JSON text (`true`, `42`, `1.5`),
objects and arrays as compact JSON text.

Imports: within one `import_name` only the rows of its newest `imported_at` count (a re-import writes the new
object before deleting the old one; a reader in between sees both). Reports read traits as of their run, like
the identity table: a late identify, link or import changes the segment of earlier events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from featurepulse.domain.identity import ID_KIND_ANONYMOUS, ID_KIND_USER, IdKey, json_mapping, nonblank_text

ORIGIN_IDENTIFY = "identify"
ORIGIN_GROUP = "group"
ORIGIN_CRM = "crm"
ORIGINS = (ORIGIN_IDENTIFY, ORIGIN_GROUP, ORIGIN_CRM)
KEY_KIND_USER = "user"
KEY_KIND_ACCOUNT = "account"
KEY_KINDS = (KEY_KIND_USER, KEY_KIND_ACCOUNT)
ACCOUNT_TRAIT_PREFIX = "account."

# `person_traits` view columns, in order.
PERSON_TRAITS_COLUMNS = ("person_id", "trait", "value", "updated_at", "origin")


def format_imported_at(value: datetime) -> str:
    """`imported_at` as stored: ISO-8601 UTC with milliseconds and a Z (fixed width: text order is time order;
    the view reads its first 23 characters as a timestamp)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # noqa: UP017 - Python 3.9
    value = value.astimezone(timezone.utc)  # noqa: UP017
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_imported_at(text: str) -> datetime:
    """The naive UTC time of a stored `imported_at` (what the view's CAST gives)."""
    return datetime.fromisoformat(text[:23].replace("T", " "))


@dataclass(frozen=True)
class TraitImportRow:
    """One row of `trait_imports`: one trait of one user or account, from one CRM import."""

    key_kind: str  # 'user' | 'account'
    key: str
    trait: str
    value: str
    import_name: str
    imported_at: str  # format_imported_at

    def __post_init__(self) -> None:
        if self.key_kind not in KEY_KINDS:
            raise ValueError(f"key_kind must be one of {KEY_KINDS}, got {self.key_kind!r}")

    def to_record(self) -> dict[str, str]:
        return {
            "key_kind": self.key_kind,
            "key": self.key,
            "trait": self.trait,
            "value": self.value,
            "import_name": self.import_name,
            "imported_at": self.imported_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TraitImportRow:
        return cls(**{k: str(record[k]) for k in ("key_kind", "key", "trait", "value", "import_name", "imported_at")})


@dataclass(frozen=True)
class PersonTrait:
    """One row of the `person_traits` view."""

    person_id: str
    trait: str
    value: str
    updated_at: datetime  # naive UTC, as the view's timestamp
    origin: str  # 'identify' | 'group' | 'crm'

    def as_row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in PERSON_TRAITS_COLUMNS}


@dataclass(frozen=True)
class _Candidate:
    value: str
    updated_at: datetime
    origin: str

    @property
    def rank(self) -> tuple[datetime, str, str]:
        return (self.updated_at, self.value, self.origin)


def trait_value(value: Any) -> str | None:
    """A trait's value as text: None for JSON null, strings as they are, anything else as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _naive_utc(value: Any) -> datetime:
    when: datetime
    if isinstance(value, str):
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, datetime):
        when = value
    else:
        raise TypeError(f"an event time must be a datetime, got {type(value).__name__}")
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)  # noqa: UP017
    return when


def _person(persons: Mapping[IdKey, str], user_id: str | None, anonymous_id: str | None) -> str | None:
    if user_id is not None:
        return persons.get((ID_KIND_USER, user_id), user_id)
    if anonymous_id is not None:
        return persons.get((ID_KIND_ANONYMOUS, anonymous_id), anonymous_id)
    return None


def _offer(best: dict[Any, _Candidate], key: Any, candidate: _Candidate) -> None:
    current = best.get(key)
    if current is None or candidate.rank > current.rank:
        best[key] = candidate


def current_imports(imports: Iterable[TraitImportRow]) -> list[TraitImportRow]:
    """The rows of each import name's newest import (an old object seen beside its replacement is ignored)."""
    rows = list(imports)
    newest: dict[str, str] = {}
    for row in rows:
        if row.import_name not in newest or row.imported_at > newest[row.import_name]:
            newest[row.import_name] = row.imported_at
    return [row for row in rows if row.imported_at == newest[row.import_name]]


def person_traits(
    events: Iterable[Mapping[str, Any]],
    persons: Mapping[IdKey, str],
    imports: Iterable[TraitImportRow] = (),
) -> list[PersonTrait]:
    """The `person_traits` rows: the latest value per (person_id, trait), sorted by (person_id, trait).

    `events`: lake rows (dicts with `type`, `user_id`, `anonymous_id`, `timestamp`, `properties` JSON text or
    dict), duplicates allowed; `persons`: `featurepulse.domain.identity.resolve_persons` of the identity links.
    """
    by_person: dict[tuple[str, str], _Candidate] = {}
    by_account: dict[tuple[str, str], _Candidate] = {}
    latest_group: dict[str, tuple[datetime, str]] = {}
    for event in events:
        kind = event.get("type")
        if kind not in (ORIGIN_IDENTIFY, ORIGIN_GROUP):
            continue
        person = _person(persons, nonblank_text(event.get("user_id")), nonblank_text(event.get("anonymous_id")))
        when = _naive_utc(event.get("timestamp"))
        properties = json_mapping(event.get("properties"))
        if kind == ORIGIN_IDENTIFY:
            if person is None:
                continue
            for trait, raw in properties.items():
                value = trait_value(raw)
                if value is not None:
                    _offer(by_person, (person, trait), _Candidate(value, when, ORIGIN_IDENTIFY))
            continue
        group_id = properties.get("groupId")
        if group_id is None or not isinstance(group_id, (str, int)) or isinstance(group_id, bool):
            continue
        group_id = str(group_id)
        if not group_id.strip():
            continue
        for trait, raw in json_mapping(properties.get("traits")).items():
            value = trait_value(raw)
            if value is not None:
                _offer(by_account, (group_id, trait), _Candidate(value, when, ORIGIN_GROUP))
        if person is not None and (person not in latest_group or (when, group_id) > latest_group[person]):
            latest_group[person] = (when, group_id)
    for row in current_imports(imports):
        candidate = _Candidate(row.value, parse_imported_at(row.imported_at), ORIGIN_CRM)
        if row.key_kind == KEY_KIND_ACCOUNT:
            _offer(by_account, (row.key, row.trait), candidate)
        else:
            person = persons.get((ID_KIND_USER, row.key), row.key)
            _offer(by_person, (person, row.trait), candidate)
    account_traits: dict[str, list[tuple[str, _Candidate]]] = {}
    for (group_id, trait), candidate in by_account.items():
        account_traits.setdefault(group_id, []).append((trait, candidate))
    for person, (_, group_id) in latest_group.items():
        for trait, candidate in account_traits.get(group_id, []):
            _offer(by_person, (person, ACCOUNT_TRAIT_PREFIX + trait), candidate)
    return [
        PersonTrait(person, trait, c.value, c.updated_at, c.origin)
        for (person, trait), c in sorted(by_person.items(), key=lambda item: item[0])
    ]
