"""The report SQL: load `athena_queries/<name>.sql` by name and bind its parameters.

Parameter convention (docs/reports.md, "Parameters"): the files use named placeholders `:name` for values
and the bare table name `events` for the lake table. Binding happens on the parsed SQL (sqlglot), never by
string formatting: each placeholder becomes a typed literal (a `date` becomes the string 'YYYY-MM-DD', the
type of the `dt` partition column; an `int` becomes a number), and `events` becomes the quoted
`"<database>"."<table>"`. A missing parameter is an error, so a query never runs half-bound.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Union

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
)

LAKE_TABLE_PLACEHOLDER = "events"
QUERIES_DIR_ENV = "FEATUREPULSE_QUERIES_DIR"


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


# Union, not `|`: this alias is evaluated at import time, and the Glue job runs Python 3.9.
ParameterValue = Union[date, int, InlineTable]  # noqa: UP007
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$")


class QueryBindingError(ValueError):
    """A query cannot be bound: a parameter is missing or has a value of the wrong type."""


@dataclass(frozen=True)
class TableRef:
    """Where the lake table lives. DuckDB uses a bare view name (database empty)."""

    table: str = LAKE_TABLE_PLACEHOLDER
    database: str = ""

    def __post_init__(self) -> None:
        for part in (self.table, self.database):
            if part and not _IDENTIFIER.match(part):
                raise QueryBindingError(f"invalid table or database name: {part!r}")


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
    if name not in QUERY_NAMES:
        raise KeyError(f"unknown report query {name!r}; known: {', '.join(QUERY_NAMES)}")
    return (queries_dir() / f"{name}.sql").read_text(encoding="utf-8")


def parse_athena(sql: str) -> exp.Expr:
    """Parse one statement of Athena (engine v3, Trino) SQL."""
    tree = sqlglot.parse_one(sql, read="athena")
    if tree is None:  # pragma: no cover - parse_one raises on empty input
        raise QueryBindingError("empty query")
    return tree


def query_parameters(sql: str) -> frozenset[str]:
    """The names of the `:name` placeholders of a query."""
    return frozenset(str(p.this) for p in parse_athena(sql).find_all(exp.Placeholder))


def _literal(name: str, value: object) -> exp.Expr:
    if isinstance(value, bool) or not isinstance(value, (date, int)):
        raise QueryBindingError(f"parameter :{name} must be a date or an int, got {type(value).__name__}")
    if isinstance(value, date):
        return exp.Literal.string(value.isoformat()[:10])
    return exp.Literal.number(value)


def bind(sql: str, params: Mapping[str, ParameterValue], table: TableRef) -> exp.Expr:
    """Return the parsed query with every placeholder replaced by its literal and `events` qualified."""
    tree = parse_athena(sql)
    missing = sorted(query_parameters(sql) - params.keys())
    if missing:
        raise QueryBindingError(f"missing query parameters: {', '.join(missing)}")

    inline_tables = {name: value for name, value in params.items() if isinstance(value, InlineTable)}

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name in inline_tables and not node.args.get("db"):
            return inline_tables[node.name].values(node.alias or node.name)
        if isinstance(node, exp.Placeholder):
            return _literal(str(node.this), params[str(node.this)])
        if isinstance(node, exp.Table) and node.name == LAKE_TABLE_PLACEHOLDER and not node.args.get("db"):
            qualified = exp.table_(
                exp.to_identifier(table.table, quoted=True),
                db=exp.to_identifier(table.database, quoted=True) if table.database else None,
                alias=node.alias or None,
            )
            return qualified
        return node

    return tree.transform(replace)


def render_athena(name: str, params: Mapping[str, ParameterValue], table: TableRef) -> str:
    """The bound query as Athena SQL text."""
    return bind(load_query(name), params, table).sql(dialect="athena", pretty=True, comments=False)
