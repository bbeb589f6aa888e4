"""The panels' reads on a (moto) aggregates table holding the scenario's items, and the `realtime panels` CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws

from featurepulse.cli import main
from featurepulse.realtime.dal import AggregatesReader, create_aggregates_table
from featurepulse.realtime.model import reference_items
from featurepulse.realtime.windows import parse_instant_ms
from tests import realtime_scenario

TABLE = "aggregates"
AT = "2025-03-01T09:30:00Z"


@pytest.fixture
def reader() -> Iterator[AggregatesReader]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_aggregates_table(client, TABLE)
        serializer = TypeSerializer()
        # Given the items the job writes for the scenario
        for item in reference_items(realtime_scenario.phases(), realtime_scenario.settings()).values():
            client.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in item.items()})
        yield AggregatesReader(client, TABLE)


def test_panels_of_a_feature_at_a_moment(reader: AggregatesReader):
    # When the panels of checkout are read at 09:30 that day
    panels = reader.panels("checkout", parse_instant_ms(AT))
    # Then the last hour is 60 minutes ending at 09:30, zero where no row exists
    assert len(panels.per_minute) == 60
    assert panels.per_minute[-1].minute == "2025-03-01T09:30"
    by_minute = {p.minute: p for p in panels.per_minute}
    assert (by_minute["2025-03-01T09:00"].events, by_minute["2025-03-01T09:00"].views) == (5, 2)
    assert by_minute["2025-03-01T09:02"].events == 0
    # and the funnel, active persons/adoption, campaigns, variants and late events of the day, from the live rows
    assert panels.day_source == "live"
    funnel = panels.funnel
    assert (funnel.feature_viewers, funnel.feature_users, funnel.adopters, funnel.completers) == (3, 2, 3, 1)
    assert funnel.completers_per_viewer == round(1 / 3, 4)
    assert panels.activity.active_persons == 8
    assert [(r.feature, r.adopters, r.adoption_rate) for r in panels.activity.features] == [
        ("checkout", 3, round(3 / 8, 4)),
        ("profile", 1, round(1 / 8, 4)),
        ("search", 1, round(1 / 8, 4)),
    ]
    assert [(c.campaign, c.feature_viewers, c.adopters) for c in panels.campaigns] == [("spring", 2, 1)]
    assert [(v.variation_id, v.feature_viewers, v.completers) for v in panels.variants] == [("A", 1, 0), ("B", 1, 0)]
    assert panels.late_events == 1


def test_without_a_feature_the_most_used_one_is_shown(reader: AggregatesReader):
    assert reader.panels(None, parse_instant_ms(AT)).feature == "checkout"


def test_an_empty_day_reads_as_zeros(reader: AggregatesReader):
    panels = reader.panels("checkout", parse_instant_ms("2025-03-02T12:00:00Z"))
    assert panels.activity.active_persons == 0 and panels.funnel.completers_per_viewer is None
    assert sum(p.events for p in panels.per_minute) == 0


def test_cli_prints_the_panels_and_refuses_a_bad_time(reader: AggregatesReader, capsys: Any):
    assert main(["realtime", "panels", "--table", TABLE, "--feature", "search", "--at", AT]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["feature"] == "search" and printed["activity"]["active_persons"] == 8
    assert main(["realtime", "panels", "--table", TABLE, "--at", "yesterday"]) == 2
    assert "--at is not an ISO-8601 time" in capsys.readouterr().err
    assert main(["realtime", "panels", "--table", "missing"]) == 2
    assert "cannot read table missing" in capsys.readouterr().err
