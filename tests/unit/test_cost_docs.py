"""docs/cost.md is the model's output: regenerate it with `python -m featurepulse.cost.docs` after a change to the
prices, the model, the measured inputs or cdk.json's defaults."""

from __future__ import annotations

from featurepulse.cost.docs import COST_DOC, render_cost_markdown
from featurepulse.cost.model import load_measured_inputs


def test_docs_cost_md_shows_the_bill_the_model_computes_today() -> None:
    expected = render_cost_markdown(measured=load_measured_inputs())
    assert COST_DOC.read_text(encoding="utf-8") == expected, (
        "docs/cost.md is stale: run `python -m featurepulse.cost.docs`"
    )


def test_the_document_compares_with_gap_at_three_rates() -> None:
    text = render_cost_markdown(measured=load_measured_inputs())
    for needle in ("$92.06", "$770.94", "$862.99", "| 10 events/s | 100 events/s | 1,000 events/s |"):
        assert needle in text
