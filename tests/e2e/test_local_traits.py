"""End to end (docs/segments.md): after the bounded demo (`make run`), the local report's view `person_traits`
gives each signed-in person the plan their identify call sent over HTTP, their account's company size, and the
lifecycle the demo's CRM file imported; the campaign spend is there too."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from featurepulse.local.demo import DemoOutcome, run_demo
from featurepulse.local.demo_traits import DEMO_SPEND_USD, crm_rows
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.local.identity import build_local
from featurepulse.local.runtime import LocalStackOptions
from featurepulse.reporting.queries import TableRef, bind


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoOutcome, Path]:
    root = tmp_path_factory.mktemp("local") / ".featurepulse"
    options = LocalStackOptions(root=root, port=0, port_is_default=False, only_components=frozenset({"lake"}))
    outcome = run_demo(options, duration_s=4, rate_eps=40, seed=5, console=Console(file=io.StringIO(), width=120))
    assert isinstance(outcome, DemoOutcome) and outcome.exit_code == 0
    return outcome, root


def query(lake_dir: Path, sql: str) -> tuple[dict[str, Any], ...]:
    runner = DuckDbQueryRunner(lake_dir)
    try:
        return runner.query(bind(sql, {}, TableRef()).sql(dialect="athena", comments=False), athena=True).rows
    finally:
        runner.close()


def sent(outcome: DemoOutcome, kind: str) -> list[dict[str, Any]]:
    """The accepted messages of a type, as the generator sent them."""
    messages = []
    for request in outcome.traffic.sent_requests:
        for body in request.payload.get("batch", [request.payload]):
            if body.get("type") == kind and body.get("messageId") in outcome.traffic.accepted_ids:
                messages.append(body)
    return messages


def test_person_traits_gives_each_person_the_traits_sent_and_imported(demo: tuple[DemoOutcome, Path]) -> None:
    outcome, root = demo
    lake_dir = root / "lake"
    # Given the demo's lake with its identity table built, and what the generator sent and the demo imported
    build_local(lake_dir)
    plans = {m["userId"]: m["traits"]["plan"] for m in sent(outcome, "identify")}
    sizes = {m["userId"]: m["traits"]["size"] for m in sent(outcome, "group")}
    lifecycles = {r["userId"]: r["lifecycle"] for r in crm_rows(outcome.traffic.users)}
    assert plans and sizes and lifecycles
    # When the view is read
    rows = query(lake_dir, "SELECT person_id, trait, value, origin FROM person_traits")
    got: dict[str, dict[str, tuple[str, str]]] = {}
    for row in rows:
        got.setdefault(row["trait"], {})[row["person_id"]] = (row["value"], row["origin"])
    # Then every signed-in person has the plan they sent, each grouped person their account's size, and each
    # person of the CRM file its lifecycle
    assert got["plan"] == {user: (plan, "identify") for user, plan in plans.items()}
    assert got["account.size"] == {user: (size, "group") for user, size in sizes.items()}
    assert got["lifecycle"] == {user: (value, "crm") for user, value in lifecycles.items()}
    assert set(got) >= {"role", "signup_date", "region", "account.name", "account.industry"}


def test_the_demo_campaign_spend_is_in_the_local_lake(demo: tuple[DemoOutcome, Path]) -> None:
    _, root = demo
    rows = query(root / "lake", "SELECT campaign_name, spend_usd, currency FROM campaign_spend")
    assert {(r["campaign_name"], r["spend_usd"], r["currency"]) for r in rows} == {
        (name, usd, "USD") for name, usd in DEMO_SPEND_USD.items()
    }
    assert (root / "imports" / "crm-broken.csv").is_file()
