"""`make lint`: one definition per metric (docs/metrics.md).

Fails (exit 1, one line per problem) when
- a report query's output column, a report table's column, a live panel's numeric field or a QuickSight data
  set's column is named like a metric (`featurepulse.domain.metrics.named_like_a_metric`: a catalogue name, or
  a name with a metric word such as `users`, `rate`, `adoption`) but is not a declared place of the catalogue
  (a catalogue name must be a place of THAT metric: one name, one meaning);
- a place the catalogue declares does not exist (unknown query, table, panel model or data set, or no such
  column or field there);
- docs/metrics.md is not what the catalogue generates (`python -m featurepulse.domain.metrics_docs` writes it).

Covered: what a person reads. Not covered: intermediate storage, e.g. the counters of the live aggregate rows
(`persons_view` ...: featurepulse/realtime/metrics.py, athena_queries/live_day_metrics.sql), which the panels
and data sets expose under the catalogue's names.

Run: `python -m tools.check_metric_catalogue` from the repository root.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel

from featurepulse.domain import metrics as catalogue
from featurepulse.domain.metrics_docs import METRICS_DOC, render_metrics_markdown

REPO = Path(__file__).resolve().parent.parent
Columns = dict[str, tuple[str, ...]]  # source -> its column (or field) names


def report_query_columns() -> Columns:
    """Output columns of each report query (the final SELECT of athena_queries/<name>.sql)."""
    from sqlglot import exp

    from featurepulse.reporting.queries import QUERY_NAMES, load_query, parse_athena

    columns: Columns = {}
    for name in QUERY_NAMES:
        tree = parse_athena(load_query(name))
        columns[name] = tuple(tree.named_selects) if isinstance(tree, exp.Query) else ()
    return columns


def report_table_columns() -> Columns:
    """Tables the report computes in Python from query rows (the e-mail shows them, the CSVs carry them)."""
    from featurepulse.reporting.campaigns import RANKING_COLUMNS
    from featurepulse.reporting.experiments import VERDICT_COLUMNS
    from featurepulse.reporting.report import retention_by_horizon

    sample = {"feature": "f", "horizon_days": 1, "cohort_adopters": 1, "retained_adopters": 1, "returning_adopters": 1}
    return {
        "retention_by_horizon": tuple(retention_by_horizon([sample])[0]),
        "experiment_verdicts": tuple(VERDICT_COLUMNS),
        "campaign_ranking": tuple(RANKING_COLUMNS),
    }


def _is_number(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_is_number(a) for a in typing.get_args(annotation))
    return False


def live_panel_fields() -> Columns:
    """Numeric fields of the live panel models (featurepulse/realtime/panels.py): the numbers a panel shows."""
    from featurepulse.realtime import panels

    models = {
        name: value
        for name, value in vars(panels).items()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == panels.__name__
    }
    return {
        name: tuple(field for field, info in model.model_fields.items() if _is_number(info.annotation))
        for name, model in models.items()
    }


def quicksight_columns() -> Columns:
    """Columns of the live dashboard's data sets (featurepulse/realtime/quicksight_panels.py)."""
    from featurepulse.realtime.quicksight_panels import PANEL_QUERIES

    return {name: tuple(column for column, _type in columns) for name, (_sql, columns) in PANEL_QUERIES.items()}


PLACES: dict[str, Callable[[], Columns]] = {
    "report": report_query_columns,
    "report_table": report_table_columns,
    "live": live_panel_fields,
    "quicksight": quicksight_columns,
}


def problems(
    places: dict[str, Columns] | None = None, metrics: tuple[catalogue.Metric, ...] = catalogue.METRICS
) -> Iterator[str]:
    """Every disagreement between the catalogue and the places; `places` defaults to the repository's."""
    places = places if places is not None else {kind: load() for kind, load in PLACES.items()}
    declared: dict[tuple[str, str, str], str] = {}
    names = {m.name for m in metrics}
    for m in metrics:
        for place in m.places:
            declared[(place.kind, place.source, place.column)] = m.name
            found = places.get(place.kind, {})
            if place.source not in found:
                yield f"{m.name}: declared at {place}, but {place.kind} has no {place.source!r}"
            elif place.column not in found[place.source]:
                yield f"{m.name}: declared at {place}, but {place.source} has no column {place.column!r}"
            if place.column != m.name and place.column in names:
                yield f"{m.name}: declared at {place}, a column named like another metric ({place.column})"
    for kind, sources in places.items():
        for source, columns in sources.items():
            for column in columns:
                if not catalogue.named_like_a_metric(column):
                    continue
                owner = declared.get((kind, source, column))
                where = f"{kind}:{source}.{column}"
                if owner is None:
                    hint = "a catalogue name" if column in names else "named like a metric"
                    yield f"{where} is {hint} but no metric of featurepulse/domain/metrics.py declares it"
                elif column in names and owner != column:
                    yield f"{where} is declared for {owner}, but it carries the name of the metric {column}"


def docs_problems() -> Iterator[str]:
    path = REPO / METRICS_DOC
    if not path.is_file() or path.read_text(encoding="utf-8") != render_metrics_markdown():
        yield f"{METRICS_DOC} is stale: run `python -m featurepulse.domain.metrics_docs`"


def main() -> int:
    found = [*problems(), *docs_problems()]
    for line in found:
        print(f"metric catalogue: {line}", file=sys.stderr)
    if not found:
        print(f"metric catalogue: {len(catalogue.METRICS)} metrics, every place declared and present")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
