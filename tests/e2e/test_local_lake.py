"""End to end: the bounded demo (`make run`) leaves a local lake that DuckDB reads with the Glue table's schema,
with every accepted event exactly once, and every invalid event in the local quarantine with its reason."""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from featurepulse.domain.schema import PARTITION_COLUMNS, glue_columns
from featurepulse.lake.query import DUCKDB_TYPES, create_events_view
from featurepulse.local.demo import DemoOutcome, run_demo
from featurepulse.local.runtime import LocalStackOptions


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoOutcome, Path]:
    root = tmp_path_factory.mktemp("local") / ".featurepulse"
    options = LocalStackOptions(root=root, port=0, port_is_default=False, only_components=frozenset({"lake"}))
    outcome = run_demo(options, duration_s=4, rate_eps=40, seed=5, console=Console(file=io.StringIO(), width=120))
    assert isinstance(outcome, DemoOutcome) and outcome.exit_code == 0
    return outcome, root


def test_the_local_lake_has_the_glue_table_schema_in_duckdb(demo: tuple[DemoOutcome, Path]) -> None:
    _, root = demo
    con = duckdb.connect()
    create_events_view(con, root / "lake")
    described = [(name, sql_type) for name, sql_type, *_ in con.execute("DESCRIBE events").fetchall()]
    expected = [(c["Name"], DUCKDB_TYPES[c["Type"]]) for c in glue_columns()]  # type: ignore[index]
    assert described == expected + [(p, "VARCHAR") for p in PARTITION_COLUMNS]


def test_every_accepted_event_is_in_the_lake_exactly_once(demo: tuple[DemoOutcome, Path]) -> None:
    outcome, root = demo
    con = duckdb.connect()
    create_events_view(con, root / "lake")
    ids = [row[0] for row in con.execute("SELECT event_id FROM events").fetchall()]
    assert len(ids) == len(set(ids)) > 0
    assert set(ids) == outcome.stream.event_ids
    # And each row sits in the partition of its own event time
    sql = """SELECT count(*) FROM events
             WHERE strftime("timestamp", '%Y-%m-%d') <> dt OR strftime("timestamp", '%H') <> hr"""
    misplaced = con.execute(sql).fetchall()
    assert misplaced == [(0,)]


def test_every_invalid_event_is_in_the_local_quarantine_with_its_reason(demo: tuple[DemoOutcome, Path]) -> None:
    outcome, root = demo
    local = [
        json.loads(line) for path in (root / "quarantine").rglob("*.jsonl") for line in path.read_text().splitlines()
    ]
    assert outcome.traffic.sent_total > outcome.traffic.sent_valid  # the demo sends invalid events on purpose
    assert sorted(q["quarantine_id"] for q in local) == sorted(q["quarantine_id"] for q in outcome.quarantined)
    assert all(q["reason"] for q in local)
