"""The local dashboard's server on a (moto) aggregates table: the page it serves and its experiments answer.

What the page draws is checked in headless chromium (tests/e2e/test_dashboard_browser.py); here, what the server
puts into it (the metric catalogue's labels, the lateness in plain words) and which features it says run an
experiment.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws

from featurepulse.domain.metrics import metrics_at
from featurepulse.local.dashboard import DashboardServer, serve_dashboard
from featurepulse.realtime.dal import AggregatesReader, create_aggregates_table
from featurepulse.realtime.model import reference_items
from tests import realtime_scenario

TABLE = "aggregates"
AT = "2025-03-01T09:30:00Z"


@pytest.fixture
def server() -> Iterator[DashboardServer]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_aggregates_table(client, TABLE)
        serializer = TypeSerializer()
        # Given the items the job writes for the scenario (variants only on checkout)
        for item in reference_items(realtime_scenario.phases(), realtime_scenario.settings()).values():
            client.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in item.items()})
        running = serve_dashboard(AggregatesReader(client, TABLE), port=0)
        yield running
        running.shutdown()
        running.server_close()


def _get(server: DashboardServer, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _json(server: DashboardServer, path: str) -> tuple[int, Any]:
    status, body = _get(server, path)
    return status, json.loads(body)


def test_the_page_names_each_live_metric_with_the_catalogue_label_and_meaning(server: DashboardServer):
    # When the page is fetched
    status, body = _get(server, "/")
    page = body.decode()
    # Then every placeholder is filled in
    assert status == 200
    assert re.findall(r"__[A-Z_]+__", page) == []
    # and it carries the label and meaning of every metric the panels show, under the panels' field names
    (labels,) = re.findall(r"const METRICS = (\{.*?\});", page)
    expected = {m.name: {"label": m.label, "meaning": m.meaning} for m, _ in metrics_at("live")}
    assert json.loads(labels) == expected
    assert json.loads(labels)["completers_per_viewer"]["label"] == "Completers per viewer"
    # and the allowed lateness of the real-time job, for the footer to say in minutes
    assert "const LATE_AFTER_S = 300;" in page


def test_experiments_names_the_features_with_variants_on_that_day(server: DashboardServer):
    # When the dashboard asks which features run an experiment that day, then another day, then at a bad time
    day = _json(server, f"/api/experiments?at={AT}")
    other_day = _json(server, "/api/experiments?at=2025-03-02T12:00:00Z")
    bad = _json(server, "/api/experiments?at=yesterday")
    # Then that day it is checkout only (the feature whose events carry an experiment), none the next day
    assert day == (200, {"features_with_experiment": ["checkout"]})
    assert other_day == (200, {"features_with_experiment": []})
    # and a time it cannot read is refused, as for the panels
    assert bad[0] == 400 and "ISO-8601" in bad[1]["error"]


def test_goals_answers_each_goal_status_by_the_reports_rule_from_the_day_rows() -> None:
    from featurepulse.domain.goals import parse_goals

    # Given the scenario's day (8 active persons; checkout: 3 adopters, 3 viewers) and three goals
    goals = parse_goals(
        [
            {"metric": "adoption_rate", "feature": "checkout", "target": 0.3, "deadline": "2025-04-01"},
            {"metric": "adoption_rate", "feature": "checkout", "target": 0.39, "deadline": "2025-04-01"},
            {"metric": "feature_viewers", "feature": "search", "target": 50, "deadline": "2025-04-01"},
        ]
    )
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_aggregates_table(client, TABLE)
        serializer = TypeSerializer()
        for item in reference_items(realtime_scenario.phases(), realtime_scenario.settings()).values():
            client.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in item.items()})
        running = serve_dashboard(AggregatesReader(client, TABLE), port=0, goals=lambda: goals)
        try:
            # When the page asks for the goals that day
            status, answer = _json(running, f"/api/goals?at={AT}")
            bad_status, _ = _json(running, "/api/goals?at=yesterday")
        finally:
            running.shutdown()
            running.server_close()
    # Then each goal has the day's value from the day rows and the status of the report's rule: 3/8 = 37.5 %
    # meets 30 %; a flat 37.5 % reaches 96 % of 39 % (at risk); 2 viewers of search are far from 50 (off track)
    assert status == 200 and "least-squares" in answer["rule"]
    got = [(g["current"], g["state"]) for g in answer["goals"]]
    assert got == [(3 / 8, "met"), (3 / 8, "at risk"), (2.0, "off track")]
    assert [len(g["trend"]) for g in answer["goals"]] == [14, 14, 14]
    assert answer["goals"][0]["trend"][-1] == {"day": "2025-03-01", "value": 3 / 8}
    assert answer["goals"][0]["trend"][0]["value"] is None  # a day without events has no value
    assert bad_status == 400
