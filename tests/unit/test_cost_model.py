"""The cost model against the Game Analytics Pipeline's published figures (where the assumptions match) and its
settings-driven behaviour. GAP's table (README, "Sample Cost Table", August 2025, us-east-1) uses a 730-hour month
for its stream, Firehose and Athena lines and 2,592,000 requests (30 days) for its API lines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from featurepulse.cost.model import (
    AWS_CALLS_MS_PER_REQUEST,
    FIGURE_NAMES,
    PATHS,
    SERVICES,
    Bill,
    CostInputError,
    DeploySettings,
    MeasuredInputs,
    Workload,
    load_measured_inputs,
    monthly_bill,
)
from featurepulse.cost.prices import PRICES, SECONDS_PER_MONTH, UnknownRegionError

# 2,592,000 requests (GAP's API month) at the model's 730-hour month.
GAP_API_RATE = 2_592_000 * 100 / SECONDS_PER_MONTH


def usd(bill: Bill, service: str, *, what: str = "", path: str | None = None) -> float:
    return sum(
        line.usd
        for line in bill.lines
        if line.service == service and what in line.what and (path is None or line.path == path)
    )


def measured(**figures: float) -> MeasuredInputs:
    return MeasuredInputs.model_validate(
        {
            "measured_at": "2026-12-04T16:00:00Z",
            "git_rev": "abc1234",
            "workload": {"events_per_second": 100, "event_bytes": 1000, "batch": 100},
            "figures": {name: {"value": value, "unit": "u", "how": "test"} for name, value in figures.items()},
        }
    )


def test_api_gateway_reproduces_gap_at_2_592_million_requests() -> None:
    # Given GAP's 2,592,000 REST calls a month
    bill = monthly_bill(Workload(GAP_API_RATE, 1000, 100), DeploySettings())
    # Then API Gateway costs GAP's $9.07
    assert round(usd(bill, "API Gateway"), 2) == 9.07


def test_lambda_arm64_reproduces_gaps_authorizer_line() -> None:
    # Given 2,592,000 invocations of 200 ms at 256 MB on arm64 (GAP's authorizer Lambda): CPU + the AWS calls
    inputs = measured(lambda_ms_per_batch_100=200 - AWS_CALLS_MS_PER_REQUEST, lambda_ms_per_event=0)
    bill = monthly_bill(Workload(GAP_API_RATE, 1000, 100), DeploySettings(ingest_memory_mb=256), measured=inputs)
    # Then the ingest Lambda lines cost GAP's $2.25
    assert round(usd(bill, "Lambda", what="ingest"), 2) == 2.25


def test_provisioned_stream_of_two_shards_reproduces_gap() -> None:
    # Given 100 events/s, one event per 1 KB record (GAP's assumption: 262.8 M PUT units), 2 provisioned shards
    bill = monthly_bill(Workload(100, 600, 1), DeploySettings(stream_mode="provisioned", shard_count=2))
    # Then the stream costs GAP's $25.58
    assert round(usd(bill, "Kinesis Data Streams"), 2) == 25.58


def test_on_demand_stream_reproduces_gap_with_one_consumer_and_the_extra_consumer() -> None:
    # Given 259.2 M events a month of 1 KB records on an on-demand stream (GAP's on-demand line)
    bill = monthly_bill(Workload(GAP_API_RATE, 600, 1), DeploySettings(stream_mode="on-demand"))
    # Then stream-hours + writes + one reader (Firehose) cost GAP's $58.87 (the calculator rounds each of its three
    # lines to the cent: $29.20 + $19.78 + $9.89), and Flink's reads its extra $9.89
    assert usd(bill, "Kinesis Data Streams", path="lake") == pytest.approx(58.87, abs=0.01)
    assert round(usd(bill, "Kinesis Data Streams", path="realtime"), 2) == 9.89


def test_firehose_ingestion_and_conversion_reproduce_gap_for_records_under_5_kb() -> None:
    # Given 100 events/s in records under 5 KB (each billed as 5 KB, as in GAP's Firehose line)
    bill = monthly_bill(Workload(100, 1000, 1), DeploySettings())
    # Then ingestion + format conversion cost GAP's $58.90
    ingest_and_conversion = usd(bill, "Firehose", what="ingestion") + usd(bill, "Firehose", what="format conversion")
    assert round(ingest_and_conversion, 2) == 58.90


def test_athena_and_flink_reproduce_gap() -> None:
    # Given GAP's 100 ad-hoc queries a day of 100 MB and one Flink KPU
    bill = monthly_bill(Workload(100, 1000, 100), DeploySettings(realtime_parallelism=1))
    # Then Athena costs $1.45 and Managed Flink $165.60, as in GAP's table
    assert round(usd(bill, "Athena", path="lake"), 2) == 1.45
    assert round(usd(bill, "Managed Flink"), 2) == 165.60


def test_packing_cuts_put_payload_units() -> None:
    # Given the same traffic in batches of 100 from one device (packed) and one event per request
    settings = DeploySettings(stream_mode="provisioned", shard_count=1)
    packed = monthly_bill(Workload(100, 1000, 100), settings)
    single = monthly_bill(Workload(100, 1000, 1), settings)
    # Then packed records cost fewer PUT payload units
    assert usd(packed, "Kinesis Data Streams", what="PUT") < usd(single, "Kinesis Data Streams", what="PUT") / 10


def test_stream_mode_decides_the_kinesis_lines() -> None:
    workload = Workload(100, 1000, 100)
    on_demand = monthly_bill(workload, DeploySettings(stream_mode="on-demand"))
    provisioned = monthly_bill(workload, DeploySettings(stream_mode="auto", shard_count=3))
    # Then on demand pays stream-hours and GB; auto pays the stack's shard count
    assert usd(on_demand, "Kinesis Data Streams", what="stream-hours") == pytest.approx(0.04 * 730)
    assert usd(provisioned, "Kinesis Data Streams", what="shard") == pytest.approx(3 * 0.015 * 730)
    assert usd(provisioned, "Kinesis Data Streams", path="realtime") == 0


def test_a_stream_too_small_for_the_rate_is_named_in_the_notes() -> None:
    # A shard takes 1 MB/s of compressed records (~120 B per 1 KB event) and 1,000 records/s: ~8,000 events/s.
    bill = monthly_bill(Workload(20_000, 1000, 100), DeploySettings(stream_mode="provisioned", shard_count=1))
    assert any("throttled" in note for note in bill.notes)


def test_trace_sample_rate_scales_x_ray() -> None:
    workload = Workload(100, 1000, 10)  # 10 requests/s
    default_rule = monthly_bill(workload, DeploySettings(trace_sample_rate=None))
    sampled = monthly_bill(workload, DeploySettings(trace_sample_rate=0.01))
    # Then X-Ray's default rule records 1/s + 5% of the other 9/s; a 1% rate records 0.1/s
    assert usd(default_rule, "X-Ray") == pytest.approx(1.45 * SECONDS_PER_MONTH * 5 / 1e6)
    assert usd(sampled, "X-Ray") == pytest.approx(0.1 * SECONDS_PER_MONTH * 5 / 1e6)


def test_a_slower_early_firing_writes_fewer_aggregate_units() -> None:
    workload = Workload(100, 1000, 100)
    every_second = monthly_bill(workload, DeploySettings(realtime_early_fire_delay_ms=1000))
    every_five = monthly_bill(workload, DeploySettings(realtime_early_fire_delay_ms=5000))
    writes = "live aggregate writes"
    assert usd(every_five, "DynamoDB", what=writes) == pytest.approx(usd(every_second, "DynamoDB", what=writes) / 5)


def test_measured_write_units_replace_the_assumption_and_are_labelled_with_their_date() -> None:
    bill = monthly_bill(
        Workload(200, 1000, 100), DeploySettings(), measured=measured(ddb_write_units_per_second_at_100_eps=10)
    )
    figure = bill.figures.values["ddb_write_units_per_second_at_100_eps"]
    assert (figure.source, figure.measured_at) == ("measured", "2026-12-04T16:00:00Z")
    # 10 units/s at 100 events/s -> 20 units/s at 200 events/s
    assert usd(bill, "DynamoDB", what="live aggregate writes") == pytest.approx(20 * SECONDS_PER_MONTH * 0.625 / 1e6)
    assert bill.figures.values["lake_bytes_per_event"].source == "assumed"


def test_optional_features_add_their_lines_only_when_the_settings_turn_them_on() -> None:
    workload = Workload(100, 1000, 100, viewers=4)
    off = monthly_bill(workload, DeploySettings())
    on = monthly_bill(workload, DeploySettings(quicksight_enabled=True, reports_enabled=True, report_recipients=2))
    assert usd(off, "QuickSight") == 0 and off.reports_usd == pytest.approx(0.10)
    assert usd(on, "QuickSight") == pytest.approx(24 + 4 * 3)
    assert usd(on, "Glue", path="reports") > 0 and usd(on, "SES") > 0 and usd(on, "Athena", path="reports") > 0
    assert any("QuickSight" in note for note in off.notes)


def test_subtotals_add_up_to_the_total_and_every_service_is_listed() -> None:
    bill = monthly_bill(Workload(100, 1000, 100), DeploySettings(quicksight_enabled=True, reports_enabled=True))
    assert sum(bill.subtotal(path) for path in PATHS) == pytest.approx(bill.total_usd)
    assert list(bill.services()) == list(SERVICES)
    assert sum(bill.services().values()) == pytest.approx(bill.total_usd)
    assert set(bill.figures.values) == set(FIGURE_NAMES)


def test_lake_storage_moves_to_infrequent_access_after_the_configured_days() -> None:
    month_six = monthly_bill(Workload(100, 1000, 100, months_stored=6), DeploySettings(lake_infrequent_access_days=90))
    assert usd(month_six, "S3", what="Standard-IA") > 0
    assert usd(month_six, "S3", what="Standard (month 6)") > usd(
        monthly_bill(Workload(100, 1000, 100), DeploySettings()), "S3", what="Standard"
    )


@pytest.mark.parametrize(
    ("workload_args", "message"),
    [
        ((0, 1000, 100), "rate must be > 0"),
        ((100, 0, 100), "event bytes"),
        ((100, 1000, 501), "batch must be 1..500"),
    ],
)
def test_a_workload_the_model_cannot_price_is_refused_in_one_line(
    workload_args: tuple[float, int, int], message: str
) -> None:
    with pytest.raises(CostInputError, match=message):
        Workload(*workload_args)


def test_unknown_region_and_settings_are_refused() -> None:
    with pytest.raises(UnknownRegionError, match="us-east-1"):
        monthly_bill(Workload(1, 1000, 1), DeploySettings(), region="mars-1")
    with pytest.raises(CostInputError, match="traceSampleRate"):
        replace(DeploySettings(), trace_sample_rate=2.0)


def test_a_malformed_measured_inputs_file_is_an_error_and_a_missing_one_is_none(tmp_path: Path) -> None:
    assert load_measured_inputs(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"figures": {}}))
    with pytest.raises(CostInputError, match="not a measured-inputs file"):
        load_measured_inputs(bad)


def test_every_price_names_its_source_and_how_it_was_checked() -> None:
    for prices in PRICES.values():
        for key, price in prices.items():
            assert price.source.startswith("https://aws.amazon.com/"), key
            assert price.check in ("reproduced", "page", "third-party", "unverified"), key
            if price.check == "third-party":
                assert price.note, f"{key}: name the third-party pages"
            assert price.usd > 0, key
