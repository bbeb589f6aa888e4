"""CSV attachments: one file per report table, with a header row; empty cells for NULL."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from featurepulse.reporting.periods import Period
from featurepulse.reporting.runners import QueryResult


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def result_to_csv(result: QueryResult) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_cell(row.get(column)) for column in result.columns])
    return buffer.getvalue().encode("utf-8")


def csv_filename(period: Period, name: str) -> str:
    return f"featurepulse-{period.key}-{name}.csv"
