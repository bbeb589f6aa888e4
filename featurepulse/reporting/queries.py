"""The report SQL: load `athena_queries/<name>.sql` by name and bind its parameters.

Parameter convention (docs/reports.md, "Parameters"): the files use named placeholders `:name` for values
and the bare table names `events` (the lake table) and `identities` (the identity table). Binding happens on
the parsed SQL (sqlglot), never by string formatting: each placeholder becomes a typed literal (a `date`
becomes the string 'YYYY-MM-DD', the type of the `dt` partition column; an `int` becomes a number), and each
table becomes the quoted `"<database>"."<table>"`. A missing parameter is an error, so a query never runs
half-bound.

Base view: a query that reads the table `person_events` gets `athena_queries/person_events.sql` (the
de-duplicated, identity-resolved events; docs/metrics.md) inlined as the first CTE of its WITH, bound with the
same parameters. The view reads the partitions from `:scan_start_date`; each report query says which of its
parameters that is (`SCAN_START_PARAMETER`), so a day's summary scans one day and MAU scans 30 more.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import sqlglot
from sqlglot import exp

# The questions the report asks, in the order it asks them (one file each in athena_queries/).
QUERY_NAMES: tuple[str, ...] = (
    "period_summary",
    "active_users_daily",
    "feature_adoption_daily",
    "feature_funnel",
    "time_on_feature_distribution",
    "adopter_retention",
    "campaign_attribution",
    "experiment_results",
    "feature_adoption_by_segment",  # docs/reports.md, "Adoption by segment"
    "feature_audiences",  # docs/reports.md, "Audiences"
)

# Not report sections, run by the report job on the same runners: the live day rows' correction
# (featurepulse/realtime/finalize.py), and the campaign spend beside the attribution
# (featurepulse/reporting/campaigns.py).
OTHER_QUERY_NAMES: tuple[str, ...] = ("live_day_metrics", "campaign_spend_totals")

LAKE_TABLE_PLACEHOLDER = "events"
IDENTITIES_TABLE_PLACEHOLDER = "identities"
BASE_VIEW = "person_events"  # athena_queries/person_events.sql, inlined into the queries that read it
# Views inlined like the base view (docs/segments.md): the latest trait values per person.
TRAITS_VIEW = "person_traits"
INLINED_VIEWS: tuple[str, ...] = (BASE_VIEW, TRAITS_VIEW)
# The CRM trait imports and the campaign spend (featurepulse/traits/schema.py; Glue tables of the same name).
TRAIT_IMPORTS_TABLE_PLACEHOLDER = "trait_imports"
CAMPAIGN_SPEND_TABLE_PLACEHOLDER = "campaign_spend"
SCAN_START_PARAMETER_NAME = "scan_start_date"
# The report job's argument naming the Glue table of `identities` (glue_jobs/campaign_report.py; the CDK
# construct passes the table's name; the default is the placeholder, which is also the table's name).
IDENTITIES_TABLE_JOB_ARGUMENT = "identities_table"
QUERIES_DIR_ENV = "FEATUREPULSE_QUERIES_DIR"

# The parameter whose value is the first partition a query reads through `person_events` (its
# `:scan_start_date`), unless the caller binds `scan_start_date` itself.
SCAN_START_PARAMETER: dict[str, str] = {
    "period_summary": "start_date",
    "active_users_daily": "lookback_start_date",  # MAU: 30 days ending on the first day
    "feature_adoption_daily": "start_date",
    "feature_funnel": "start_date",
    "time_on_feature_distribution": "start_date",
    "adopter_retention": "lookback_start_date",  # D30 cohorts of the first measured day
    "campaign_attribution": "start_date",
    "experiment_results": "experiments_start_date",  # the earliest experiment window
    "feature_adoption_by_segment": "start_date",
    "feature_audiences": "start_date",
}


@dataclass(frozen=True)
class InlineTable:
    """Rows bound in place of the table of the same name (e.g. `experiment_goals`, docs/experiments.md): a
    `VALUES` list of varchar literals with named columns. Empty: one all-NULL row, which joins nothing."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]

    def values(self, alias: str) -> exp.Expr:
        def cell(value: str | None) -> exp.Expr:
            return exp.cast(exp.null() if value is None else exp.Literal.string(value), "VARCHAR")

        rows = self.rows or (tuple(None for _ in self.columns),)
        if any(len(row) != len(self.columns) for row in rows):
            raise QueryBindingError(f"inline table {alias}: every row needs {len(self.columns)} values")
        return exp.values(
            [exp.tuple_(*(cell(v) for v in row)) for row in rows], alias=alias, columns=list(self.columns)
        )


ParameterValue = date | int | InlineTable
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$")


class QueryBindingError(ValueError):
    """A query cannot be bound: a parameter is missing or has a value of the wrong type."""


@dataclass(frozen=True)
class TableRef:
    """Where the lake tables live (both in one Glue database). DuckDB uses bare view names (database empty)."""

    table: str = LAKE_TABLE_PLACEHOLDER
    database: str = ""
    identities_table: str = IDENTITIES_TABLE_PLACEHOLDER
    trait_imports_table: str = TRAIT_IMPORTS_TABLE_PLACEHOLDER
    campaign_spend_table: str = CAMPAIGN_SPEND_TABLE_PLACEHOLDER

    def __post_init__(self) -> None:
        for part in (
            self.table,
            self.database,
            self.identities_table,
            self.trait_imports_table,
            self.campaign_spend_table,
        ):
            if part and not _IDENTIFIER.match(part):
                raise QueryBindingError(f"invalid table or database name: {part!r}")
        if not self.table or not self.identities_table:
            raise QueryBindingError("empty table name")

    def qualified(self, placeholder: str) -> str:
        """The physical table name of a placeholder (`events`, `identities`, `trait_imports`, `campaign_spend`)."""
        return {
            LAKE_TABLE_PLACEHOLDER: self.table,
            TRAIT_IMPORTS_TABLE_PLACEHOLDER: self.trait_imports_table,
            CAMPAIGN_SPEND_TABLE_PLACEHOLDER: self.campaign_spend_table,
        }.get(placeholder, self.identities_table)


def queries_dir() -> Path:
    """`athena_queries/` of this checkout, or of the Glue job's bundle (`featurepulse/_athena_queries`)."""
    override = os.environ.get(QUERIES_DIR_ENV)
    if override:
        return Path(override)
    package_dir = Path(__file__).resolve().parent.parent
    repo_dir = package_dir.parent / "athena_queries"
    return repo_dir if repo_dir.is_dir() else package_dir / "_athena_queries"


@cache
def load_query(name: str) -> str:
    if name not in QUERY_NAMES + OTHER_QUERY_NAMES:
        raise KeyError(f"unknown report query {name!r}; known: {', '.join(QUERY_NAMES + OTHER_QUERY_NAMES)}")
    return (queries_dir() / f"{name}.sql").read_text(encoding="utf-8")


@cache
def load_base_view(name: str = BASE_VIEW) -> str:
    """`athena_queries/person_events.sql` (or another of `INLINED_VIEWS`)."""
    return (queries_dir() / f"{name}.sql").read_text(encoding="utf-8")


def parse_athena(sql: str) -> exp.Expr:
    """Parse one statement of Athena (engine v3, Trino) SQL."""
    tree = sqlglot.parse_one(sql, read="athena")
    if tree is None:  # pragma: no cover - parse_one raises on empty input
        raise QueryBindingError("empty query")
    return tree


def _placeholders(tree: exp.Expr) -> frozenset[str]:
    return frozenset(str(p.this) for p in tree.find_all(exp.Placeholder))


def _unqualified_tables(tree: exp.Expr, name: str) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if t.name == name and not t.args.get("db")]


def reads_base_view(tree: exp.Expr, name: str = BASE_VIEW) -> bool:
    """Whether the query reads `person_events` (or view `name`) and does not define a CTE of that name itself."""
    own_ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    return name not in own_ctes and bool(_unqualified_tables(tree, name))


def query_parameters(sql: str) -> frozenset[str]:
    """The names of the `:name` placeholders of a query, with the base view's when it reads it."""
    tree = parse_athena(sql)
    found = _placeholders(tree)
    for view in INLINED_VIEWS:
        if reads_base_view(tree, view):
            found |= _placeholders(parse_athena(load_base_view(view)))
    return found


def with_base_view(tree: exp.Expr) -> exp.Expr:
    """The query with `person_events` (and `person_traits`) defined as its first CTEs, when it reads them (a copy;
    else unchanged)."""
    for view in reversed(INLINED_VIEWS):
        if not reads_base_view(tree, view):
            continue
        tree = tree.copy()
        cte = exp.CTE(this=parse_athena(load_base_view(view)), alias=exp.TableAlias(this=exp.to_identifier(view)))
        existing = tree.args.get("with_")
        if existing is None:
            tree.set("with_", exp.With(expressions=[cte]))
        else:
            existing.set("expressions", [cte, *existing.expressions])
    return tree


def query_scan_parameters(name: str, params: Mapping[str, ParameterValue]) -> dict[str, ParameterValue]:
    """The parameters of report query `name`, with its `:scan_start_date` (see `SCAN_START_PARAMETER`)."""
    bound = dict(params)
    source = SCAN_START_PARAMETER.get(name)
    if SCAN_START_PARAMETER_NAME not in bound and source is not None and source in bound:
        bound[SCAN_START_PARAMETER_NAME] = bound[source]
    return bound


def _literal(name: str, value: object) -> exp.Expr:
    if isinstance(value, bool) or not isinstance(value, (date, int)):
        raise QueryBindingError(f"parameter :{name} must be a date or an int, got {type(value).__name__}")
    if isinstance(value, date):
        return exp.Literal.string(value.isoformat()[:10])
    return exp.Literal.number(value)


def bind(sql: str, params: Mapping[str, ParameterValue], table: TableRef) -> exp.Expr:
    """Return the parsed query with the base view inlined, every placeholder replaced by its literal and the
    lake tables qualified."""
    tree = with_base_view(parse_athena(sql))
    missing = sorted(_placeholders(tree) - params.keys())
    if missing:
        raise QueryBindingError(f"missing query parameters: {', '.join(missing)}")

    inline_tables = {name: value for name, value in params.items() if isinstance(value, InlineTable)}

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name in inline_tables and not node.args.get("db"):
            return inline_tables[node.name].values(node.alias or node.name)
        if isinstance(node, exp.Placeholder):
            return _literal(str(node.this), params[str(node.this)])
        if isinstance(node, exp.Table) and node.name in _LAKE_TABLES and not node.args.get("db"):
            qualified = exp.table_(
                exp.to_identifier(table.qualified(node.name), quoted=True),
                db=exp.to_identifier(table.database, quoted=True) if table.database else None,
                alias=node.alias or None,
            )
            return qualified
        return node

    return tree.transform(replace)


_LAKE_TABLES = (
    LAKE_TABLE_PLACEHOLDER,
    IDENTITIES_TABLE_PLACEHOLDER,
    TRAIT_IMPORTS_TABLE_PLACEHOLDER,
    CAMPAIGN_SPEND_TABLE_PLACEHOLDER,
)


def render_athena(name: str, params: Mapping[str, ParameterValue], table: TableRef) -> str:
    """The bound report query as Athena SQL text."""
    bound = bind(load_query(name), query_scan_parameters(name, params), table)
    return bound.sql(dialect="athena", pretty=True, comments=False)
