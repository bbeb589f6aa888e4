"""The bill follows the opt-in WAF and the trimmed ingest logs (docs/deploy.md, "Protection"; docs/decisions.md 13)."""

from __future__ import annotations

import math

import pytest

from featurepulse.cost.model import (
    ACCESS_LOG_BYTES_PER_REQUEST,
    LAMBDA_PLATFORM_LOG_BYTES,
    DeploySettings,
    Workload,
    inventory_for,
    monthly_bill,
)
from featurepulse.cost.prices import GB, SECONDS_PER_MONTH

GAP = Workload(events_per_second=100, event_bytes=1000, batch_size=100)


def test_default_settings_price_no_waf_and_say_so() -> None:
    # Given the stack's defaults (wafEnabled false) / When GAP's workload is priced
    bill = monthly_bill(GAP, DeploySettings())
    # Then WAF costs nothing, the inventory has no web ACL, and a note says why
    assert bill.services()["WAF"] == 0
    assert not [line for line in bill.lines if line.service == "WAF"]
    assert (inventory_for(DeploySettings()).web_acls, inventory_for(DeploySettings()).waf_rules) == (0, 0)
    assert any("wafEnabled" in note for note in bill.notes)


def test_waf_enabled_prices_the_web_acl_its_three_rules_and_the_requests() -> None:
    # Given wafEnabled=true / When GAP's workload is priced (2.628 M requests a month)
    settings = DeploySettings(waf_enabled=True)
    bill = monthly_bill(GAP, settings)
    # Then $5 for the web ACL, $1 per rule, $0.60 per million requests: $9.58 in us-east-1
    assert bill.services()["WAF"] == pytest.approx(5 + 3 + 0.6 * 2.628, abs=0.01)
    assert (inventory_for(settings).web_acls, inventory_for(settings).waf_rules) == (1, 3)
    assert not any("wafEnabled" in note for note in bill.notes)
    # And the lake path grows by exactly that
    assert bill.lake_path_usd - monthly_bill(GAP, DeploySettings()).lake_path_usd == pytest.approx(
        bill.services()["WAF"]
    )


def test_ingest_logs_are_the_handlers_lines_and_the_access_log_without_lambdas_platform_lines() -> None:
    # Given the model's assumptions (no measured inputs) / When GAP's workload is priced
    bill = monthly_bill(GAP, DeploySettings())
    (logs,) = [line for line in bill.lines if line.what.startswith("logs ingested (ingest")]
    # Then the GB ingested are the handler's bytes plus one access-log line per request, and no START/END/REPORT
    requests = GAP.requests_per_second * SECONDS_PER_MONTH
    per_request = bill.figures["log_bytes_per_request"] + ACCESS_LOG_BYTES_PER_REQUEST
    assert LAMBDA_PLATFORM_LOG_BYTES == 0
    assert math.isclose(logs.quantity, requests * per_request / GB)
    # And that is under a GB a month at one request per second (the 16-field log and the platform lines were ~5 GB)
    assert logs.quantity < 1.5
