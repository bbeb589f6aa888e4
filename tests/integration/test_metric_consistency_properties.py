"""One definition per metric, on generated traffic: for any small set of events (ids shared and linked at random,
sign-ins and aliases, replayed copies, equal timestamps), every report query on DuckDB gives the rows the
plain-Python reference of the catalogue gives (featurepulse/domain/metrics_reference.py)."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurepulse.domain.identity import links_from_events, resolve_persons
from featurepulse.domain.metrics_reference import REPORT_REFERENCE, person_events
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import make_event, write_identities, write_lake

DAY = date(2026, 3, 10)
PERIOD = Period.containing("week", DAY)  # 2026-03-09 .. 2026-03-15
USERS = (None, "u1", "u2", "u3")
DEVICES = (None, "d1", "d2", "d3", "d4")
KINDS = ("page", "view", "use", "complete", "dismiss", "identify", "alias")
CAMPAIGNS = (None, ("google", "cpc", "spring"), ("newsletter", None, None))
STAGE_EVENTS = {"view": "Feature Viewed", "use": "Feature Used", "complete": "Feature Completed"}
STAGE_EVENTS["dismiss"] = "Feature Dismissed"

event_specs = st.tuples(
    st.integers(min_value=-32, max_value=7),  # day offset from DAY: inside and before the week (MAU, D30)
    st.integers(min_value=0, max_value=3),  # minute of the day (few values: equal timestamps happen)
    st.sampled_from(USERS),
    st.sampled_from(DEVICES),
    st.sampled_from(KINDS),
    st.sampled_from(("search", "export")),
    st.sampled_from(CAMPAIGNS),
    st.sampled_from((None, 5_000, 45_000, 700_000)),
    st.sampled_from(USERS + DEVICES),  # an alias's previousId
    st.booleans(),  # stored twice (a replay received later)
)


def build(specs: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    rows = []
    for i, (offset, minute, user, device, kind, feature, campaign, duration, previous, replayed) in enumerate(specs):
        if user is None and device is None:
            device = "d1"
        at = datetime(DAY.year, DAY.month, DAY.day, 12, minute) + timedelta(days=offset)
        common: dict[str, Any] = {"ids": (user, device), "campaign": campaign}
        if kind in STAGE_EVENTS:
            event = make_event(
                f"e{i:03d}",
                "",
                at,
                event=STAGE_EVENTS[kind],
                feature=feature,
                stage=kind,
                duration_ms=duration,
                **common,
            )
        elif kind == "alias" and user is not None and previous is not None:
            properties = f'{{"previousId": "{previous}"}}'
            event = make_event(f"e{i:03d}", "", at, type_="alias", event=None, properties=properties, **common)
        else:
            event = make_event(f"e{i:03d}", "", at, type_="identify" if kind == "identify" else "page", **common)
        rows.append(event)
        if replayed:
            rows.append({**event, "received_at": event["received_at"] + timedelta(seconds=30)})
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_specs, min_size=1, max_size=40))
def test_every_report_query_equals_the_catalogue_reference_on_any_events(specs: list[tuple[Any, ...]]) -> None:
    # Given any small traffic, written as a lake with its identity table
    rows = build(specs)
    events = person_events(rows, resolve_persons(links_from_events(rows)))
    with tempfile.TemporaryDirectory() as directory:
        write_lake(Path(directory), rows)
        write_identities(Path(directory), rows)
        runner = DuckDbQueryRunner(Path(directory))
        try:
            for query, reference in REPORT_REFERENCE.items():
                # When the SQL and the reference compute the query's rows for the week
                got = list(runner.run(query, PERIOD.query_parameters(10)).rows)
                want = reference(events, PERIOD.start, PERIOD.end)
                # Then they are the same rows, value by value
                assert len(got) == len(want), query
                for g, w in zip(got, want, strict=True):
                    assert set(g) == set(w), query
                    for column, value in w.items():
                        if isinstance(value, float):
                            assert g[column] == pytest.approx(value, rel=1e-9, abs=1e-12), (query, column)
                        else:
                            assert g[column] == value, (query, column)
        finally:
            runner.close()
