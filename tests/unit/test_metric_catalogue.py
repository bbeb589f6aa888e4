"""The metric catalogue (featurepulse/domain/metrics.py): well-formed, one meaning per name, its helpers, its
generated docs, and the `make lint` check that keeps every place that shows a metric declared."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from featurepulse.domain import metrics as catalogue
from featurepulse.domain import stages
from featurepulse.domain.metrics import (
    ADOPTER_STAGE_SQL,
    METRIC_NAMES,
    METRICS,
    Metric,
    Place,
    metric,
    metrics_at,
    named_like_a_metric,
    stage_filter_sql,
)
from featurepulse.domain.metrics_docs import METRICS_DOC, render_metrics_markdown
from tools.check_metric_catalogue import PLACES, docs_problems, problems

REPO = Path(__file__).resolve().parents[2]


def test_every_metric_is_fully_described() -> None:
    for m in METRICS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", m.name), m.name
        assert m.label and m.formula and m.breakdown, m.name
        assert m.meaning.endswith(".") and m.meaning[0].isupper(), m.name
        assert m.unit in ("persons", "events", "rate", "seconds", "usd") and m.counts in ("persons", "events")
        assert m.places, f"{m.name} is computed nowhere"


def test_names_labels_and_meanings_are_each_unique() -> None:
    for attribute in ("name", "label", "meaning"):
        values = [getattr(m, attribute) for m in METRICS]
        assert len(values) == len(set(values)), attribute


def test_a_place_shows_one_metric_and_never_under_another_metric_name() -> None:
    seen: dict[Place, str] = {}
    for m in METRICS:
        for place in m.places:
            assert place not in seen, (place, seen.get(place), m.name)
            seen[place] = m.name
            assert place.column == m.name or place.column not in METRIC_NAMES, (m.name, place)


def test_every_rate_is_a_ratio_of_two_catalogue_metrics() -> None:
    # The QuickSight panels build their ratios from these formulas (featurepulse/realtime/quicksight_panels.py).
    # (A share of a breakdown's total, such as share_of_timed_events, is the one other kind of rate.)
    for m in METRICS:
        if m.unit != "rate" or m.name.startswith("share_of_"):
            continue
        numerator, slash, rest = m.formula.partition(" / ")
        assert slash, m.name
        assert numerator in METRIC_NAMES and rest.split(" ")[0] in METRIC_NAMES, m.name
        assert metric(numerator).counts == m.counts


def test_the_issue_names_mean_what_the_contract_says() -> None:
    assert metric("adoption_rate").formula.startswith("adopters / active_persons")
    assert metric("completion_rate").formula.startswith("completers / adopters")
    assert metric("completers_per_viewer").formula.startswith("completers / feature_viewers")
    assert "order ignored" in metric("completers_per_viewer").meaning
    for name in ("active_persons", "feature_viewers", "adopters", "completers", "funnel_viewed", "mau"):
        assert metric(name).counts == "persons"


def test_stages_are_the_ingest_stages() -> None:
    assert (catalogue.STAGE_VIEW, catalogue.STAGE_USE, catalogue.STAGE_COMPLETE, catalogue.STAGE_DISMISS) == (
        stages.STAGE_VIEW,
        stages.STAGE_USE,
        stages.STAGE_COMPLETE,
        stages.STAGE_DISMISS,
    )
    assert catalogue.ADOPTER_STAGES == ("use", "complete")
    assert catalogue.FUNNEL_STEPS == ("view", "use", "complete")


def test_stage_filter_sql_is_the_adopter_rule_and_refuses_what_is_not_a_stage_name() -> None:
    assert ADOPTER_STAGE_SQL == "stage IN ('use', 'complete')"
    assert stage_filter_sql(("view",), "e.stage") == "e.stage = 'view'"
    for bad in ((), ("use'); DROP TABLE x; --",)):
        with pytest.raises(ValueError):
            stage_filter_sql(bad)


def test_every_query_that_counts_adopters_applies_the_adopter_rule_of_the_catalogue() -> None:
    # Given the queries that count adopters (the report's, and the live day rows' correction)
    names = ("period_summary", "feature_adoption_daily", "adopter_retention", "campaign_attribution")
    for name in (*names, "live_day_metrics"):
        sql = (REPO / "athena_queries" / f"{name}.sql").read_text(encoding="utf-8")
        # Then they select adopters with the catalogue's stage filter, and with no other stage list
        assert ADOPTER_STAGE_SQL.removeprefix("stage ") in sql, name
        assert set(re.findall(r"stage IN \(([^)]*)\)", sql)) == {"'use', 'complete'"}, name


def test_the_live_adopter_rule_is_the_catalogue_s() -> None:
    from featurepulse.realtime.events import ADOPTION_STAGES

    assert ADOPTION_STAGES == catalogue.ADOPTER_STAGES


def test_lookup_by_name_and_by_place() -> None:
    assert metric("adopters").label == "Feature adopters"
    with pytest.raises(KeyError, match="known: events"):
        metric("conversion")
    summary = {m.name for m, _ in metrics_at("report", "period_summary")}
    assert summary == {
        "events",
        "active_persons",
        "feature_viewers",
        "adopters",
        "completers",
        "adoption_rate",
        "completion_rate",
    }


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("adopters", True),
        ("users", True),
        ("cohort_users", True),
        ("conversion", True),
        ("adoption", True),
        ("persons_view", True),
        ("feature", False),
        ("horizon_days", False),
        ("campaign_source", False),
        ("p_value", False),
        ("duration_p50_ms", False),
    ],
)
def test_named_like_a_metric(column: str, expected: bool) -> None:
    assert named_like_a_metric(column) is expected


def test_the_catalogue_needs_only_the_standard_library() -> None:
    # The Flink job and the Glue job import it: nothing outside the standard library.
    for module in ("metrics.py", "metrics_docs.py"):
        tree = ast.parse((REPO / "featurepulse" / "domain" / module).read_text(encoding="utf-8"))
        imported = {
            (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        assert imported <= set(sys.stdlib_module_names) | {"__future__", "featurepulse"}, (module, imported)


def test_docs_metrics_md_is_generated_from_the_catalogue() -> None:
    # Given the checked-in docs/metrics.md, Then it is what the catalogue generates (else run the generator)
    assert (REPO / METRICS_DOC).read_text(encoding="utf-8") == render_metrics_markdown()
    assert not list(docs_problems())


def test_the_generated_docs_describe_every_metric_and_its_places() -> None:
    doc = render_metrics_markdown()
    for m in METRICS:
        assert f"### `{m.name}`: {m.label}" in doc
        for place in m.places:
            assert f"`{place.source}.{place.column}`" in doc


# --- the lint check ---------------------------------------------------------------------------------------

TOY = (
    Metric("adopters", "Adopters", "Persons who adopted.", "count", "persons", "persons", "per day",
           (Place("report", "q", "adopters"),)),
    Metric("adoption_rate", "Adoption", "Adopters per active person.", "adopters / active_persons", "rate",
           "persons", "per day", (Place("live", "Row", "adoption_rate"),)),
)  # fmt: skip


def test_the_check_passes_when_every_metric_named_place_is_declared_and_present() -> None:
    places = {"report": {"q": ("day", "adopters")}, "live": {"Row": ("feature", "adoption_rate")}}
    assert list(problems(places, TOY)) == []


def test_the_check_reports_an_undeclared_metric_named_column() -> None:
    # Given a query that also outputs a legacy "users" column and a panel field named like a catalogue metric
    places = {"report": {"q": ("adopters", "active_users")}, "live": {"Row": ("adoption_rate", "adopters")}}
    found = list(problems(places, TOY))
    # Then both are reported
    assert any("report:q.active_users" in p for p in found)
    assert any("live:Row.adopters is a catalogue name" in p for p in found)


def test_the_check_reports_a_declared_place_that_does_not_exist() -> None:
    places = {"report": {"q": ("adopters",)}, "live": {"Other": ("adoption_rate",)}}
    found = list(problems(places, TOY))
    assert "adoption_rate: declared at live:Row.adoption_rate, but live has no 'Row'" in found
    places = {"report": {"q": ("adopters",)}, "live": {"Row": ("adoption",)}}
    found = list(problems(places, TOY))
    assert "adoption_rate: declared at live:Row.adoption_rate, but Row has no column 'adoption_rate'" in found
    assert "live:Row.adoption is named like a metric but no metric of featurepulse/domain/metrics.py declares it" in (
        found
    )


def test_the_check_reads_every_kind_of_place_of_the_repository() -> None:
    # Given the repository's places
    found = {kind: load() for kind, load in PLACES.items()}
    # Then it sees the report queries, the report tables, the live panels and the QuickSight data sets
    assert "adoption_rate" in found["report"]["period_summary"]
    assert "cohort_adopters" in found["report_table"]["retention_by_horizon"]
    assert "completers_per_viewer" in found["live"]["FunnelPanel"]
    assert "feature" not in found["live"]["AdoptionRow"]  # only numbers are metrics
    assert "adoption_rate" in found["quicksight"]["activity"]


def test_the_repository_declares_every_place_that_shows_a_metric() -> None:
    assert list(problems()) == []
