"""The measured cost inputs: the file's shape (what bench/bench_cost_inputs.py writes and the cost model reads),
and the bench's DynamoDB arithmetic (item size as DynamoDB bills it, the AWS sink's batching)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pytest

from bench.bench_cost_inputs import OUTPUT, aws_sink_writes, dynamodb_item_bytes

CONTRACT_FIGURES = {
    "stream_bytes_per_event",
    "events_per_stream_record",
    "lake_bytes_per_event",
    "lambda_ms_per_batch_100",
    "lambda_ms_per_event",
    "log_bytes_per_request",
    "ddb_write_units_per_second_at_100_eps",
    "ddb_item_bytes_p50",
    "ddb_item_bytes_max",
    "ddb_writes_per_second_at_100_eps",
    "athena_bytes_scanned_per_report_day",
    "athena_queries_per_report_day",
    "s3_objects_per_hour_lake",
}


def test_the_measured_inputs_file_has_every_contract_figure_with_value_unit_and_one_line_how() -> None:
    # Given the file the benchmark wrote (committed with the code it measured)
    assert OUTPUT.relative_to(Path(__file__).resolve().parents[2]) == Path("featurepulse/cost/measured_inputs.json")
    document = json.loads(OUTPUT.read_text())

    # Then it has the contract's shape and every contract figure, each a number with a unit and one line of method
    assert set(document) == {"measured_at", "git_rev", "workload", "figures"}
    assert datetime.fromisoformat(document["measured_at"].replace("Z", "+00:00")).tzinfo is not None
    assert isinstance(document["git_rev"], str) and document["git_rev"]
    assert isinstance(document["workload"], dict) and document["workload"]["events_per_second"] == 100
    assert set(document["figures"]) >= CONTRACT_FIGURES  # others may be added (by telling the lead)
    for name, figure in document["figures"].items():
        assert set(figure) == {"value", "unit", "how"}, name
        assert isinstance(figure["value"], int | float) and math.isfinite(figure["value"]) and figure["value"] > 0
        assert isinstance(figure["unit"], str) and figure["unit"], name
        assert isinstance(figure["how"], str) and figure["how"].strip() and "\n" not in figure["how"], name


def test_item_size_counts_attribute_names_values_and_map_overhead_as_dynamodb_bills_them() -> None:
    # Given an item with a string, numbers, a NULL (left out by the sink) and a map
    item = {"pk": "F#a", "n": 1234, "z": 0, "late_events": None, "dimensions": {"campaign": "x"}}

    # Then: "pk" 2 + 3; "n" 1 + 2 digit pairs + 1; "z" 1 + 1 + 1; no NULL; "dimensions" 10 + 3 + ("campaign" 8
    # + "x" 1 + 1 element byte)
    assert dynamodb_item_bytes(item) == (2 + 3) + (1 + 2 + 1) + (1 + 1 + 1) + (10 + 3 + 8 + 1 + 1)


@pytest.mark.parametrize(("value", "size"), [(1, 2), (12, 2), (123, 3), (1000, 2), (10_500, 3)])
def test_a_number_costs_one_byte_per_two_significant_digits_plus_one(value: int, size: int) -> None:
    assert dynamodb_item_bytes({"n": value}) == 1 + size


def test_the_aws_sink_writes_the_last_version_of_a_key_per_batch_and_skips_update_before() -> None:
    # Given two versions of one key 0.1 s apart (one batch), a retraction, and the key again after the flush timeout
    def row(t: float, kind: str, events: int) -> dict[str, object]:
        return {"t": t, "kind": kind, "item": {"pk": "APP", "sk": "D#2026-12-01", "events": events}}

    rows = [row(0.0, "INSERT", 1), row(0.05, "UPDATE_BEFORE", 1), row(0.1, "UPDATE_AFTER", 2)]
    rows.append(row(0.7, "UPDATE_AFTER", 3))

    # When the connector's batching is applied
    writes = aws_sink_writes(rows)

    # Then one write per batch: the second version, then the third
    assert [w["events"] for w in writes] == [2, 3]


def test_a_full_batch_of_25_is_written_at_once_even_within_the_flush_timeout() -> None:
    rows = [{"t": 0.0, "kind": "INSERT", "item": {"pk": "APP", "sk": f"M#{i}"}} for i in range(26)]
    rows.append({"t": 0.01, "kind": "UPDATE_AFTER", "item": {"pk": "APP", "sk": "M#0"}})

    # The first 25 keys fill a batch; key 0's update lands in the next one, so it is written twice
    assert len(aws_sink_writes(rows)) == 25 + 2
