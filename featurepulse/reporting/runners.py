"""The query runner interface: run one named report query for bound parameters, return its rows.

Two implementations with one contract: `athena_runner.AthenaQueryRunner` (awswrangler, in AWS) and
`duckdb_runner.DuckDbQueryRunner` (the local lake). Both execute the same `athena_queries/*.sql`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from featurepulse.reporting.queries import ParameterValue


@dataclass(frozen=True)
class QueryResult:
    name: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    bytes_scanned: int | None = None  # what Athena bills; None where the engine does not say
    sql: str = field(default="", repr=False)


class QueryRunner(Protocol):
    engine: str

    def run(self, name: str, params: Mapping[str, ParameterValue]) -> QueryResult:
        """Run the query `athena_queries/<name>.sql` with its parameters bound."""


def _is_missing(value: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is there wherever awswrangler or DuckDB results are
        return isinstance(value, float) and math.isnan(value)
    missing = pd.isna(value)
    return missing if isinstance(missing, bool) else False


def plain_value(value: Any) -> Any:
    """A result cell as a plain Python value: NaN/NaT/NA -> None, numpy and pandas scalars -> Python ones."""
    if value is None or _is_missing(value):
        return None
    if isinstance(value, (date, str, bytes)):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def rows_from_records(columns: Sequence[str], records: Sequence[Sequence[Any]]) -> tuple[dict[str, Any], ...]:
    return tuple({c: plain_value(record[i]) for i, c in enumerate(columns)} for record in records)
