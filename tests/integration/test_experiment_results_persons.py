"""experiment_results.sql counts persons through the base view person_events (identity-resolved)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_experiment_results import Events, run, totals


def test_an_anonymous_visitor_exposed_then_identified_counts_once(tmp_path: Path) -> None:
    # Given a visitor exposed while anonymous, who signs in, is exposed again and completes the feature
    events = Events()
    events.exposure("anon-v1", 0, "onboarding", "B", anonymous=True)
    events.stage("anon-v1", 1, "ai-summary", "view", ("onboarding", "B"), anonymous=True)
    events.add("v1", 5, "Signed In")  # carries user_id v1 and anonymous_id anon-v1: the link
    events.exposure("v1", 6, "onboarding", "B")
    events.stage("v1", 8, "ai-summary", "complete", ("onboarding", "B"))
    # And a control person
    events.exposure("c1", 0, "onboarding", "A")
    events.stage("c1", 1, "ai-summary", "view", ("onboarding", "A"))
    # When the query runs
    rows = run(tmp_path, events.rows)
    # Then the visitor is one exposed person, converted (the completion after sign-in is the same person's)
    assert totals(rows) == {("onboarding", "A"): (1, 0), ("onboarding", "B"): (1, 1)}
