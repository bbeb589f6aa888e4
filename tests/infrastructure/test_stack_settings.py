"""CDK context -> StackSettings: defaults, the string forms `-c key=value` gives, clear errors."""

from __future__ import annotations

import json
import re

import pytest

import app as cdk_app
from cdk.settings import (
    SHARD_READ_BYTES_PER_SECOND,
    SHARD_WRITE_BYTES_PER_SECOND,
    SHARD_WRITE_RECORDS_PER_SECOND,
    STREAM_BURST_FACTOR,
    STREAM_BYTES_PER_SENT_BYTE,
    STREAM_CONSUMERS,
    STREAM_READ_UTILISATION,
    SettingsError,
    StackSettings,
    stream_shards_for,
)
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from tests.infrastructure.conftest import REPO_ROOT


def test_defaults_are_a_stream_sized_for_gap_traffic_and_documented_limits() -> None:
    # Given no context / When settings are built / Then the documented defaults apply
    settings = StackSettings.from_context(lambda _key: None)
    # The stream is provisioned, sized for the expected 100 events/s of 1 KB: one shard
    assert settings.stream_mode == "auto"
    assert (settings.expected_events_per_second, settings.expected_event_bytes) == (100, 1000)
    assert settings.stream_capacity_mode == "provisioned"
    assert settings.stream_shard_count == 1
    # 5% of the API's requests are traced; Firehose buffers for its longest interval
    assert settings.trace_sample_rate == 0.05
    assert settings.lake_buffer_interval_seconds == 900
    assert settings.cors_allow_origins == ("*",)
    assert settings.stage_map == DEFAULT_STAGE_MAP
    assert settings.alarm_email is None
    # WAF is opt-in (docs/deploy.md, "Protection"); its rules, once on, count the 8 KB body rule only
    assert settings.waf_enabled is False
    assert settings.waf_count_only_rules == ("SizeRestrictions_BODY",)


def test_command_line_strings_are_parsed_into_typed_values() -> None:
    # Given context values as the CDK CLI passes `-c key=value` (always strings)
    context = {
        "streamMode": "provisioned",
        "shardCount": "8",
        "throttleRateLimit": "250.5",
        "corsAllowOrigins": "https://app.example.com, https://www.example.com",
        "stageMap": json.dumps({"Report Opened": "view", "Report Exported": "complete"}),
        "skipLambdaDependencies": "true",
        "alarmEmail": "ops@example.com",
        "wafEnabled": "true",
        "wafRateLimit": "2000",
    }
    # When settings are built
    settings = StackSettings.from_context(context.get)
    # Then each value has its type
    assert settings.waf_enabled is True
    assert settings.waf_rate_limit == 2000
    assert settings.shard_count == 8
    assert settings.throttle_rate_limit == 250.5
    assert settings.cors_allow_origins == ("https://app.example.com", "https://www.example.com")
    assert settings.stage_map == {"Report Opened": "view", "Report Exported": "complete"}
    assert settings.skip_lambda_dependencies is True
    assert json.loads(settings.stage_map_json) == settings.stage_map


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"shardCount": "0"}, "shardCount"),
        ({"streamMode": "serverless"}, "streamMode"),
        ({"logRetentionDays": "8"}, "logRetentionDays"),
        ({"stageMap": '{"Feature Viewed": "seen"}'}, "unknown stages"),
        ({"corsAllowOrigins": "https://app.example.com/path"}, "corsAllowOrigins"),
        ({"corsAllowOrigins": "*,https://app.example.com"}, "cannot be combined"),
        ({"alarmEmail": "not-an-address"}, "alarmEmail"),
        ({"putTimeBudgetMs": "9000"}, "putTimeBudgetMs=9000"),
        ({"ingestTimeoutSeconds": "30"}, "ingestTimeoutSeconds"),
        ({"throttleBurstLimit": "-1"}, "throttleBurstLimit"),
        ({"traceSampleRate": "1.5"}, "traceSampleRate"),
        ({"expectedEventsPerSecond": "0"}, "expectedEventsPerSecond"),
        ({"expectedEventBytes": "40000"}, "expectedEventBytes"),
        ({"shardCount": "4"}, "shardCount applies only to streamMode=provisioned (streamMode is 'auto'"),
        ({"streamMode": "on-demand", "shardCount": "4"}, "shardCount applies only to streamMode=provisioned"),
        ({"wafRateLimit": "2000"}, "wafRateLimit applies only with wafEnabled=true"),
        ({"wafEnabled": "false", "wafCountOnlyRules": ""}, "wafCountOnlyRules applies only with wafEnabled=true"),
        ({"wafEnabled": "maybe"}, "wafEnabled"),
    ],
)
def test_invalid_context_fails_with_one_line_naming_the_key(context: dict[str, str], message: str) -> None:
    # Given an invalid context value / When settings are built / Then the error names it on one line
    with pytest.raises(SettingsError, match=re.escape(message)) as caught:
        StackSettings.from_context(context.get)
    assert "\n" not in str(caught.value)


def test_empty_alarm_email_means_no_subscription() -> None:
    assert StackSettings.from_context({"alarmEmail": " "}.get).alarm_email is None


def test_app_exits_2_with_the_message_on_invalid_context(capsys: pytest.CaptureFixture[str]) -> None:
    # Given an invalid value, as `cdk synth -c shardCount=0` passes it
    # When app.py runs / Then it exits 2 with one readable line and no traceback
    assert cdk_app.main({"shardCount": "0"}) == 2
    err = capsys.readouterr().err
    assert err.startswith("featurepulse: invalid CDK context: shardCount")
    assert "Traceback" not in err


def test_every_context_key_is_documented() -> None:
    # Given the deploy guide and the capability docs it links to
    docs = "\n".join(path.read_text(encoding="utf-8") for path in sorted((REPO_ROOT / "docs").glob("*.md")))
    # Then every context key the stack reads is named there (with its default and meaning)
    missing = [key for key in StackSettings.context_keys() if f"`{key}`" not in docs]
    assert missing == []


def test_cdk_json_context_values_are_valid_settings() -> None:
    # Given cdk.json (the app command, feature flags, and any deploy parameters a fork pins there)
    config = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    assert config["app"] == ".venv/bin/python app.py"
    # Then whatever featurepulse keys it holds parse as settings
    StackSettings.from_context(config["context"].get)


def test_a_misspelt_context_key_stops_the_synth_naming_the_closest_valid_key():
    # Given the two typos a platform engineer made on the command line, and a CDK feature flag and CLI key
    context = {
        "streamMod": "provisioned",
        "alarmEmial": "ops@example.com",
        "@aws-cdk/core:checkSecretUsage": True,
        "aws:cdk:version-reporting": False,
        "streamMode": "on-demand",
    }
    # When the keys are checked
    messages = StackSettings.unknown_context_keys(context)
    # Then each typo is named with the key it was meant to be, and nothing else is reported
    assert messages == [
        "unknown context key 'alarmEmial' (did you mean 'alarmEmail'?)",
        "unknown context key 'streamMod' (did you mean 'streamMode'?)",
    ]


def test_the_app_refuses_an_unknown_context_key_before_building_anything():
    # Given a context with a key no parameter has
    # When the app is built, Then it stops with a SettingsError that names the key
    with pytest.raises(SettingsError, match="unknown context key 'notAParameter'"):
        cdk_app.build_app({"notAParameter": "1"})


def test_every_optional_part_left_off_is_named_with_the_context_that_turns_it_on():
    # Given a sender without recipients, and no QuickSight principal, alarm e-mail nor WAF
    settings = StackSettings.from_mapping({"reportSender": "reports@example.com"})
    # When the synth asks what is switched off
    notes = settings.switched_off()
    # Then each part is named once, with what turns it on
    assert len(notes) == 4
    assert any("schedules are created DISABLED (a sender but no recipients" in n for n in notes)
    assert any("quicksightPrincipalArn" in n for n in notes)
    assert any("alarmEmail" in n for n in notes)
    assert any(n.startswith("WAF web ACL: not created") and "-c wafEnabled=true" in n for n in notes)


def test_nothing_is_announced_when_every_optional_part_is_on():
    # Given every optional part configured
    settings = StackSettings.from_mapping(
        {
            "reportSender": "reports@example.com",
            "reportRecipients": "m@example.com",
            "alarmEmail": "ops@example.com",
            "quicksightPrincipalArn": "arn:aws:quicksight:eu-west-1:123456789012:group/default/marketing",
            "wafEnabled": True,
        }
    )
    # When asked, Then nothing is switched off
    assert settings.switched_off() == []


# --- stream capacity ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("events_per_second", "event_bytes", "shards"),
    [
        (1, 1000, 1),  # never fewer than one shard
        (100, 1000, 1),  # GAP's workload: 100 x 1.6 KB x 4 = 640 KB/s in bursts
        (163, 1000, 1),  # the most one shard takes: 163 x 1,600 x 4 = 1,043,200 B/s < 1 MiB/s
        (164, 1000, 2),  # 1,049,600 B/s: one byte per second too many for one shard
        (1000, 1000, 7),  # write bytes bind: 6.4 MB/s in bursts
        (1000, 100, 4),  # write records bind: 4,000 records/s in bursts (one record per event at worst)
        (10_000, 1000, 62),
    ],
)
def test_auto_sizes_the_stream_from_the_expected_traffic_with_burst_headroom(
    events_per_second: int, event_bytes: int, shards: int
) -> None:
    # Given an expected mean rate and event size / When the stream is sized / Then it gets exactly these shards
    assert stream_shards_for(events_per_second, event_bytes) == shards


def test_the_sized_stream_takes_the_burst_and_one_shard_less_would_not() -> None:
    # Given sizes across three orders of magnitude
    for rate in (1, 37, 100, 250, 999, 4321, 20_000):
        for event_bytes in (100, 700, 1000, 4096, 32 * 1024):
            shards = stream_shards_for(rate, event_bytes)
            burst_bytes = rate * event_bytes * STREAM_BYTES_PER_SENT_BYTE * STREAM_BURST_FACTOR
            burst_records = rate * STREAM_BURST_FACTOR
            # Then the burst fits the shards' write limits, and both consumers' steady reads fit half the read limit...
            assert burst_bytes <= shards * SHARD_WRITE_BYTES_PER_SECOND
            assert burst_records <= shards * SHARD_WRITE_RECORDS_PER_SECOND
            steady_reads = STREAM_CONSUMERS * rate * event_bytes * STREAM_BYTES_PER_SENT_BYTE
            assert steady_reads <= shards * SHARD_READ_BYTES_PER_SECOND * STREAM_READ_UTILISATION
            # ...and one shard fewer would not take it (never over-provisioned), unless one is the minimum
            if shards > 1:
                fewer = shards - 1
                assert (
                    burst_bytes > fewer * SHARD_WRITE_BYTES_PER_SECOND
                    or burst_records > fewer * SHARD_WRITE_RECORDS_PER_SECOND
                )


def test_the_stream_modes_give_the_capacity_they_name() -> None:
    # Given each mode as `-c` gives it
    auto = StackSettings.from_context({"expectedEventsPerSecond": "1000", "expectedEventBytes": "1000"}.get)
    provisioned = StackSettings.from_context({"streamMode": "provisioned", "shardCount": "3"}.get)
    provisioned_default = StackSettings.from_context({"streamMode": "provisioned"}.get)
    on_demand = StackSettings.from_context({"streamMode": "on-demand"}.get)
    # Then auto and provisioned deploy a provisioned stream (sized, or as given), on-demand has no shard count
    assert (auto.stream_capacity_mode, auto.stream_shard_count) == ("provisioned", 7)
    assert (provisioned.stream_capacity_mode, provisioned.stream_shard_count) == ("provisioned", 3)
    assert provisioned_default.stream_shard_count == 1
    assert (on_demand.stream_capacity_mode, on_demand.stream_shard_count) == ("on-demand", None)
