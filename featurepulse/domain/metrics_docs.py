"""docs/metrics.md, generated from the metric catalogue (featurepulse/domain/metrics.py).

`python -m featurepulse.domain.metrics_docs` rewrites the file; `make lint` (tools/check_metric_catalogue.py)
and a unit test fail when it is stale. Standard library, and the goals' rule (featurepulse/domain/goals.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from featurepulse.domain.goals import GOAL_METRICS, PROJECTION_RULE
from featurepulse.domain.metrics import (
    ADOPTER_STAGES,
    AUDIENCE_RULES,
    CAMPAIGN_NOT_SET,
    DIRECT_CAMPAIGN,
    FUNNEL_STEPS,
    METRICS,
    PLACE_KINDS,
    PLACE_SOURCES,
    RETENTION_HORIZONS_DAYS,
    SEGMENT_UNKNOWN,
    TIME_ON_FEATURE_BUCKETS,
    Metric,
)

METRICS_DOC = "docs/metrics.md"

_INTRO = """\
# Metrics

<!-- Generated from featurepulse/domain/metrics.py by `python -m featurepulse.domain.metrics_docs`: do not edit
by hand; `make lint` fails when this file and the catalogue differ. -->

Every number featurepulse shows (the e-mailed report, the live panels, the QuickSight dashboard) is one of
the metrics below, under its name. One name has one meaning: two numbers computed differently have two names,
even where a marketer might call both "conversion" (the ordered funnel's `funnel_view_to_complete_rate`, the
live panels' unordered `completers_per_viewer`, a campaign's `campaign_conversion_rate`, an experiment's
`conversion_rate`).

## Rules every metric follows

- **Events are counted once**: de-duplicated on (source_id, event_id), the first received copy kept (a client
  retry or a replay stores an event again).
- **Persons, not ids**: a metric that counts persons counts the person of each event, resolved through the
  identity table (docs/identity.md): the person of its user id when set, else of its anonymous id; an id never
  linked to a user id is its own person. An anonymous visitor who signs in is one person in every metric, and
  the report reads the identity table as of its run, so a late link re-attributes earlier anonymous events.
  The live panels apply the links the stream has seen so far; the batch result corrects each final day
  (docs/realtime.md).
- **The report reads one base view**, `athena_queries/person_events.sql` (de-duplicated, identity-resolved),
  which the query binder inlines into every report query.
- **Stages** come from the ingest stage map (docs/design.md). An adopter used or completed a feature
  (stages {adopter}); the ordered funnel is {funnel}.
- Time on feature buckets: {buckets}.
- Retention horizons: {horizons} days after the cohort day.
- First-touch attribution: a person without a campaign-tagged event is attributed to
  {direct}; a missing UTM field of a tagged event reads `{not_set}`.

## Where metrics are computed

Each metric lists its places; `make lint` checks that every declared place exists and that every column or
field named like a metric (a catalogue name, or a name with a word such as `users`, `rate`, `adoption`) is a
declared place.

{kinds}

## Catalogue

| metric | label | unit | counts | meaning |
|---|---|---|---|---|
"""


def _code(values: Sequence[object]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _intro() -> str:
    buckets = ", ".join(label for _order, label, _low, _high in TIME_ON_FEATURE_BUCKETS)
    kinds = "\n".join(f"- `{kind}`: {PLACE_SOURCES[kind]}." for kind in PLACE_KINDS)
    return (
        _INTRO.replace("{adopter}", _code(ADOPTER_STAGES))
        .replace("{funnel}", " -> ".join(f"`{s}`" for s in FUNNEL_STEPS))
        .replace("{buckets}", buckets)
        .replace("{horizons}", ", ".join(str(h) for h in RETENTION_HORIZONS_DAYS))
        .replace("{direct}", " / ".join(f"`{v}`" for v in DIRECT_CAMPAIGN))
        .replace("{not_set}", CAMPAIGN_NOT_SET)
        .replace("{kinds}", kinds)
    )


def _goals_and_cuts() -> str:
    """How goals read the catalogue (featurepulse/domain/goals.py), and the segment and audience rules."""
    audiences = "\n".join(
        f"  - `{name}`: any of the stages {_code(needs)} of the feature in the period, none of {_code(excludes)}"
        for name, (needs, excludes) in AUDIENCE_RULES.items()
    )
    return (
        "\n## Goals, segments and audiences\n\n"
        f"- **Goals** (CDK context `goals`, docs/reports.md) name a metric of this catalogue with one value per day "
        f"and feature: {_code(GOAL_METRICS)}. Status rule: {PROJECTION_RULE}.\n"
        f"- **Segments**: `active_persons`, `adopters` and `adoption_rate` per value of one trait count the persons "
        f"of that value only; persons without the trait are `{SEGMENT_UNKNOWN}`.\n"
        "- **Audiences** (`audience_persons`), persons with a user id, order inside the period ignored:\n"
        f"{audiences}\n"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _section(m: Metric) -> str:
    places = "\n".join(f"  - `{p.kind}`: `{p.source}.{p.column}`" for p in m.places) or "  - (none)"
    return (
        f"### `{m.name}`: {m.label}\n\n"
        f"{m.meaning}\n\n"
        f"- Formula: {_cell(m.formula)}\n"
        f"- Unit: {m.unit}; counts {m.counts}\n"
        f"- Grain: {m.breakdown}\n"
        f"- Computed at:\n{places}\n"
    )


def render_metrics_markdown(metrics: Sequence[Metric] = METRICS) -> str:
    rows = "".join(f"| `{m.name}` | {_cell(m.label)} | {m.unit} | {m.counts} | {_cell(m.meaning)} |\n" for m in metrics)
    sections = "\n".join(_section(m) for m in metrics)
    return f"{_intro()}{rows}{_goals_and_cuts()}\n## Definitions\n\n{sections}"


def main(argv: Sequence[str] = ()) -> int:
    """Write docs/metrics.md (or the path given) from the catalogue."""
    target = Path(argv[0]) if argv else Path(METRICS_DOC)
    target.write_text(render_metrics_markdown(), encoding="utf-8")
    print(f"wrote {target} ({len(METRICS)} metrics)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
