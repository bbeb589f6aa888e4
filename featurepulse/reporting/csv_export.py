"""CSV attachments: one file per report table, with a header row; empty cells for NULL.

Text cells hold what clients sent (campaign names come from UTM parameters anyone can set), and spreadsheets run
a cell that starts with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(...)`). Following OWASP's CSV injection
guidance, a text cell that starts with one of those, or with a tab, carriage return, line feed or NUL, gets a
leading `'`: the spreadsheet shows the text as typed and runs nothing. Numbers are written as numbers (a negative
difference stays `-0.05`): only text is neutralized.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from featurepulse.reporting.periods import Period
from featurepulse.reporting.runners import QueryResult

# First characters that make a spreadsheet read a cell as a formula (or can hide one after them).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def neutralize_formula(text: str) -> str:
    """`text` as a spreadsheet shows it but never evaluates: a leading `'` before a formula prefix."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralize_formula(value)
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
    writer.writerow([neutralize_formula(column) for column in result.columns])
    for row in result.rows:
        writer.writerow([_cell(row.get(column)) for column in result.columns])
    return buffer.getvalue().encode("utf-8")


def csv_filename(period: Period, name: str) -> str:
    return f"featurepulse-{period.key}-{name}.csv"
