"""One rule for traits: the view `athena_queries/person_traits.sql` (bound like a report query, on DuckDB over a
lake with its identity table and CRM imports) gives exactly the rows of the plain-Python reference
`featurepulse.domain.traits.person_traits`, on a hand-built case with known answers and on generated traffic
(late links, re-imports seen beside their replacement, account changes, equal times, replayed copies)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurepulse.domain.identity import links_from_events, resolve_persons
from featurepulse.domain.traits import (
    KEY_KIND_ACCOUNT,
    KEY_KIND_USER,
    PersonTrait,
    TraitImportRow,
    format_imported_at,
    person_traits,
)
from featurepulse.lake.store import LocalStore
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.queries import TableRef, bind
from featurepulse.traits.schema import TRAIT_IMPORTS_PREFIX, TRAIT_IMPORTS_TABLE, column_names
from featurepulse.traits.store import encode_records
from tests.reporting_dataset import make_event, write_identities, write_lake

T0 = datetime(2026, 3, 10, 9, 0)
VIEW_SQL = "SELECT person_id, trait, value, updated_at, origin FROM person_traits ORDER BY person_id, trait"


def identify(event_id: str, at: datetime, ids: tuple[str | None, str | None], traits: dict[str, Any]) -> dict[str, Any]:
    return make_event(event_id, "", at, type_="identify", event=None, ids=ids, properties=json.dumps(traits))


def group(
    event_id: str, at: datetime, ids: tuple[str | None, str | None], group_id: str, traits: dict[str, Any]
) -> dict[str, Any]:
    properties = json.dumps({"groupId": group_id, "traits": traits})
    return make_event(event_id, "", at, type_="group", event=None, ids=ids, properties=properties)


def alias(event_id: str, at: datetime, user_id: str, previous_id: str) -> dict[str, Any]:
    properties = json.dumps({"previousId": previous_id})
    return make_event(event_id, "", at, type_="alias", event=None, ids=(user_id, None), properties=properties)


def write_imports(lake_dir: Path, objects: list[list[TraitImportRow]]) -> None:
    """Each list is one stored object (an import as `TraitStore` writes it; two objects of one name = a reader
    caught between the new object's PUT and the old one's delete)."""
    store = LocalStore(lake_dir)
    for index, rows in enumerate(objects):
        data = encode_records((r.to_record() for r in rows), column_names(TRAIT_IMPORTS_TABLE))
        name = rows[0].import_name if rows else "empty"
        store.put(f"{TRAIT_IMPORTS_PREFIX}{name}.test{index:03d}.json.gz", data)


def sql_traits(lake_dir: Path) -> list[PersonTrait]:
    runner = DuckDbQueryRunner(lake_dir)
    try:
        bound = bind(VIEW_SQL, {}, TableRef()).sql(dialect="athena", comments=False)
        rows = runner.query(bound, athena=True).rows
    finally:
        runner.close()
    return [PersonTrait(**row) for row in rows]


def reference(rows: list[dict[str, Any]], objects: list[list[TraitImportRow]]) -> list[PersonTrait]:
    persons = resolve_persons(links_from_events(rows))
    return person_traits(rows, persons, [r for rows_ in objects for r in rows_])


@pytest.fixture()
def lake_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def crm(kind: str, key: str, trait: str, value: str, name: str, at: datetime) -> TraitImportRow:  # noqa: PLR0917
    return TraitImportRow(kind, key, trait, value, name, format_imported_at(at))


def test_the_view_applies_newest_wins_across_identify_group_and_crm_with_late_links(lake_dir: Path) -> None:
    # Given a visitor who sets traits anonymously and is linked to u1 later (alias), an identify that changes
    # the plan, a CRM import of a region and a plan, re-imported with new values (the old object still listed),
    # an account whose size comes from a group call and then from the CRM, a user who moved accounts, and a
    # trait set to null
    rows = [
        identify("e1", T0, (None, "dev1"), {"role": "viewer", "beta": True}),
        identify("e2", T0 + timedelta(hours=1), ("u1", "dev1"), {"plan": "free", "seats": 3}),
        identify("e3", T0 + timedelta(hours=5), ("u1", None), {"plan": "pro", "role": None}),
        group("e4", T0 + timedelta(hours=2), ("u1", None), "acct-1", {"size": "11-50", "name": "Acme"}),
        group("e5", T0 + timedelta(hours=1), ("u2", None), "acct-1", {"size": "1-10"}),
        group("e6", T0 + timedelta(hours=3), ("u2", None), "acct-2", {"size": "51-200"}),
        identify("e7", T0, ("u2", None), {"plan": "enterprise"}),
        alias("e8", T0 + timedelta(days=2), "u1", "dev1"),
        identify("e9", T0 + timedelta(hours=6), ("u1", "dev1"), {"plan": "pro"}),  # a replayed copy, same time
    ]
    rows.append(dict(rows[-1]))
    old = [
        crm(KEY_KIND_USER, "u1", "region", "EMEA", "crm", T0 + timedelta(hours=4)),
        crm(KEY_KIND_USER, "u2", "plan", "free", "crm", T0 + timedelta(hours=4)),
    ]
    new = [
        crm(KEY_KIND_USER, "u1", "region", "APAC", "crm", T0 + timedelta(days=1)),
        crm(KEY_KIND_USER, "u3", "lifecycle", "lead", "crm", T0 + timedelta(days=1)),
    ]
    accounts = [crm(KEY_KIND_ACCOUNT, "acct-1", "size", "201-500", "accounts", T0 + timedelta(days=1))]
    objects = [old, new, accounts]
    write_lake(lake_dir, rows)
    write_identities(lake_dir, rows)
    write_imports(lake_dir, objects)

    # When the view runs, and the reference computes the same
    got = sql_traits(lake_dir)
    want = reference(rows, objects)

    # Then both give these rows: the anonymous traits are u1's (late link), the newer identify wins, the
    # re-import replaced the old one whole (u2 keeps its identify plan), the CRM account size is newest, u2 sees
    # its latest account (acct-2), the null role set nothing
    expected = {
        ("u1", "account.name"): ("Acme", "group"),
        ("u1", "account.size"): ("201-500", "crm"),
        ("u1", "beta"): ("true", "identify"),
        ("u1", "plan"): ("pro", "identify"),
        ("u1", "region"): ("APAC", "crm"),
        ("u1", "role"): ("viewer", "identify"),
        ("u1", "seats"): ("3", "identify"),
        ("u2", "account.size"): ("51-200", "group"),
        ("u2", "plan"): ("enterprise", "identify"),
        ("u3", "lifecycle"): ("lead", "crm"),
    }
    assert {(t.person_id, t.trait): (t.value, t.origin) for t in got} == expected
    assert got == want
    assert next(t for t in got if t.trait == "region").updated_at == T0 + timedelta(days=1)


USERS = (None, "u1", "u2", "u3")
DEVICES = (None, "d1", "d2", "d3")
TRAITS = ("plan", "role", "size")
VALUES = ("free", "pro", "enterprise", 7, 1.5, True, None, {"tier": 2}, "")
GROUPS = ("g1", "g2")

event_specs = st.tuples(
    st.integers(min_value=0, max_value=5),  # day offset
    st.integers(min_value=0, max_value=2),  # minute: equal times happen
    st.sampled_from(USERS),
    st.sampled_from(DEVICES),
    st.sampled_from(("identify", "group", "alias", "page")),
    st.dictionaries(st.sampled_from(TRAITS), st.sampled_from(VALUES), max_size=3),
    st.sampled_from(GROUPS),
    st.sampled_from(USERS + DEVICES),  # an alias's previousId
    st.booleans(),  # stored twice
)
import_specs = st.tuples(
    st.sampled_from(("crm", "crm2", "accounts")),
    st.integers(min_value=0, max_value=6),  # import day offset (equal to event times sometimes)
    st.lists(
        st.tuples(
            st.sampled_from((KEY_KIND_USER, KEY_KIND_ACCOUNT)),
            st.sampled_from(("u1", "u2", "u3", "u4", "g1", "g2")),
            st.sampled_from(TRAITS),
            st.sampled_from(("free", "pro", "x", "")),
        ),
        max_size=4,
    ),
)


def build(specs: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    rows = []
    for i, (day, minute, user, device, kind, traits, group_id, previous, replayed) in enumerate(specs):
        if user is None and device is None:
            device = "d1"
        at = T0 + timedelta(days=day, minutes=minute)
        if kind == "identify":
            row = identify(f"e{i:03d}", at, (user, device), traits)
        elif kind == "group":
            row = group(f"e{i:03d}", at, (user, device), group_id, traits)
        elif kind == "alias" and user is not None and previous is not None:
            row = make_event(
                f"e{i:03d}", "", at, type_="alias", event=None, ids=(user, device),
                properties=json.dumps({"previousId": previous}),
            )  # fmt: skip
        else:
            row = make_event(f"e{i:03d}", "", at, type_="page", ids=(user, device))
        rows.append(row)
        if replayed:
            rows.append({**row, "received_at": row["received_at"] + timedelta(seconds=30)})
    return rows


def build_imports(specs: list[tuple[Any, ...]]) -> list[list[TraitImportRow]]:
    objects = []
    for name, day, cells in specs:
        at = T0 + timedelta(days=day)
        rows = [crm(kind, key, trait, value, name, at) for kind, key, trait, value in cells]
        if rows:
            objects.append(rows)
    return objects


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_specs, min_size=1, max_size=30), st.lists(import_specs, max_size=4))
def test_the_view_equals_the_python_reference_on_any_traffic_and_imports(
    specs: list[tuple[Any, ...]], imports: list[tuple[Any, ...]]
) -> None:
    # Given any small traffic with identify/group/alias calls, written as a lake with its identity table, and any
    # CRM imports (several objects of one name: a re-import seen beside the object it replaces)
    rows = build(specs)
    objects = build_imports(imports)
    with tempfile.TemporaryDirectory() as directory:
        lake_dir = Path(directory)
        write_lake(lake_dir, rows)
        write_identities(lake_dir, rows)
        write_imports(lake_dir, objects)
        # When the view and the reference compute the traits
        got = sql_traits(lake_dir)
    want = reference(rows, objects)
    # Then they are the same rows, value by value
    assert got == want
