"""`featurepulse cost`: the bill as text and as JSON, from cdk.json's settings plus --context overrides, and
one-line errors for what it cannot price."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featurepulse.cli import main
from featurepulse.cost.model import SERVICES

GAP = ["cost", "--rate", "100", "--event-bytes", "1000", "--batch", "100", "--region", "us-east-1"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*GAP, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_text_bill_lists_every_service_the_subtotals_and_the_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    # When the bill is asked for GAP's workload
    code, out, _ = run(capsys)
    # Then every service, the three subtotals, the total and each input's source are printed
    assert code == 0
    for service in SERVICES:
        assert f"\n{service} " in out
    for label in ("lake path", "real time", "reports", "total (USD per month)"):
        assert label in out
    assert "stream_bytes_per_event" in out and ("ASSUMED" in out or "measured" in out)


def test_json_has_exactly_the_documented_shape_and_adds_up(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json")
    bill = json.loads(out)
    assert code == 0
    assert set(bill) == {"services", "lake_path_usd", "realtime_usd", "total_usd", "inputs"}
    assert list(bill["services"]) == list(SERVICES)
    assert bill["total_usd"] == pytest.approx(sum(bill["services"].values()), abs=0.01 * len(SERVICES))
    assert bill["lake_path_usd"] + bill["realtime_usd"] <= bill["total_usd"] + 0.01
    assert bill["inputs"]["workload"]["events_per_second"] == 100
    assert bill["inputs"]["figures"]["stream_bytes_per_event"]["source"] in ("measured", "assumed")


def test_context_overrides_change_the_bill_as_they_change_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the same workload with an on-demand stream and with 4 provisioned shards
    _, on_demand, _ = run(capsys, "--json", "-c", "streamMode=on-demand")
    _, provisioned, _ = run(capsys, "--json", "--context", "streamMode=provisioned", "--context", "shardCount=4")
    _, one_shard, _ = run(capsys, "--json", "--context", "streamMode=provisioned", "--context", "shardCount=1")
    on_demand_bill, provisioned_bill = json.loads(on_demand), json.loads(provisioned)
    one_shard_bill = json.loads(one_shard)
    # Then the settings reached the model and the Kinesis line follows them: three more shard-months, the same
    # PUT payload units (whatever the measured inputs make them)
    assert on_demand_bill["inputs"]["settings"]["stream_mode"] == "on-demand"
    assert provisioned_bill["inputs"]["settings"]["shard_count"] == 4
    kinesis = "Kinesis Data Streams"
    extra = provisioned_bill["services"][kinesis] - one_shard_bill["services"][kinesis]
    assert extra == pytest.approx(3 * 0.015 * 730, abs=0.02)
    assert on_demand_bill["services"]["Kinesis Data Streams"] > 29.2


def test_the_measured_inputs_file_is_read_and_its_date_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inputs = tmp_path / "measured_inputs.json"
    inputs.write_text(
        json.dumps(
            {
                "measured_at": "2026-12-04T17:00:00Z",
                "git_rev": "abc1234",
                "workload": {"events_per_second": 100, "event_bytes": 1000},
                "figures": {"lake_bytes_per_event": {"value": 40.0, "unit": "bytes", "how": "bench"}},
            }
        )
    )
    _, out, _ = run(capsys, "--measured-inputs", str(inputs))
    assert "measured 2026-12-04T17:00:00Z: bench" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "rate must be > 0"),
        (["--region", "mars-1"], "no price table for region 'mars-1'"),
        (["-c", "streamMod=on-demand"], "did you mean 'streamMode'"),
        (["-c", "traceSampleRate=2"], "traceSampleRate"),
        (["-c", "novalue"], "KEY=VALUE"),
    ],
)
def test_bad_input_is_one_line_error(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("featurepulse: error: ") and message in err
