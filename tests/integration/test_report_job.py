"""The report job against moto (SESv2 + DynamoDB): one e-mail per period, MIME structure, failure paths."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.dal.send_log import DynamoDbSendLog, create_send_log_table
from featurepulse.reporting.dal.ses_mailer import SesMailer
from featurepulse.reporting.job import ReportSettings, run_report
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import QUERY_NAMES
from featurepulse.reporting.report import NOT_ATTACHED
from tests.reporting_dataset import EMPTY_DAY, REPORT_DAY, demo_events, write_lake

REGION = "us-east-1"
SENDER = "reports@example.com"
NOW = datetime(2026, 3, 17, 6, 0, tzinfo=UTC)
PERIOD = Period.containing("week", REPORT_DAY)
SETTINGS = ReportSettings(
    sender=SENDER, recipients=("marketing@example.com", "pm@example.com"), send_log_table="report-sends"
)


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lake")
    write_lake(path, demo_events())
    return path


@pytest.fixture(scope="module")
def runner(lake_dir: Path) -> Iterator[DuckDbQueryRunner]:
    duck = DuckDbQueryRunner(lake_dir)
    yield duck
    duck.close()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        sesv2 = boto3.client("sesv2", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_send_log_table(dynamodb, SETTINGS.send_log_table)
        yield {"sesv2": sesv2, "dynamodb": dynamodb}


def verify_sender(aws: dict[str, Any]) -> None:
    aws["sesv2"].create_email_identity(EmailIdentity=SENDER)


def sent_messages() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def run(aws: dict[str, Any], runner: DuckDbQueryRunner, **kwargs: Any) -> Any:
    return run_report(
        runner=runner,
        period=PERIOD,
        settings=SETTINGS,
        send_log=DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table),
        mailer=SesMailer(aws["sesv2"]),
        now=NOW,
        **kwargs,
    )


def test_a_period_is_mailed_once_and_a_rerun_does_not_mail_again(
    aws: dict[str, Any], runner: DuckDbQueryRunner
) -> None:
    # Given a verified sender
    verify_sender(aws)
    # When the job runs twice for the same week
    first = run(aws, runner)
    second = run(aws, runner)
    # Then one e-mail went out, to every recipient, and the second run was skipped
    assert first.status == "sent" and first.message_id
    assert second.status == "skipped" and second.message_id == first.message_id
    (message,) = sent_messages()
    assert set(message.destinations) == set(SETTINGS.recipients)


def test_force_sends_the_period_again(aws: dict[str, Any], runner: DuckDbQueryRunner) -> None:
    verify_sender(aws)
    run(aws, runner)
    forced = run(aws, runner, force=True)
    assert forced.status == "sent"
    assert len(sent_messages()) == 2


def test_a_refused_send_marks_the_record_failed_raises_and_a_rerun_sends(
    aws: dict[str, Any], runner: DuckDbQueryRunner
) -> None:
    # Given a sender SES has not verified
    # When the job runs, Then it fails loudly and records the failure
    with pytest.raises(Exception, match=r"not verified|MessageRejected"):
        run(aws, runner)
    record = DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table).get(SETTINGS.report_key(PERIOD))
    assert record is not None and record.status == "failed"
    assert sent_messages() == []
    # When the sender is verified and the job re-runs, Then the report goes out
    verify_sender(aws)
    assert run(aws, runner).status == "sent"
    assert len(sent_messages()) == 1


def test_a_failing_query_sends_nothing_and_claims_nothing(aws: dict[str, Any], tmp_path: Path) -> None:
    # Given a lake with a corrupt data file in the reported week
    write_lake(tmp_path, demo_events())
    sorted(tmp_path.glob(f"events/dt={REPORT_DAY.isoformat()}/*/*.parquet"))[-1].write_bytes(b"not parquet")
    verify_sender(aws)
    broken = DuckDbQueryRunner(tmp_path)
    # When the job runs, Then it raises before any e-mail or send record exists
    with pytest.raises(Exception):  # noqa: B017 - whatever DuckDB raises, the job must not swallow it
        run(aws, broken)
    assert sent_messages() == []
    assert DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table).get(SETTINGS.report_key(PERIOD)) is None


def test_another_run_in_progress_blocks_a_second_send(aws: dict[str, Any], runner: DuckDbQueryRunner) -> None:
    # Given a run that claimed the period a minute ago and has not finished
    verify_sender(aws)
    log = DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table)
    assert log.claim(SETTINGS.report_key(PERIOD), now=int(NOW.timestamp()) - 60)
    # When a second run starts, Then it does not send
    assert run(aws, runner).status == "skipped"
    assert sent_messages() == []


def test_a_run_that_died_long_ago_does_not_block_forever(aws: dict[str, Any]) -> None:
    log = DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table, stale_after_s=3600)
    key = SETTINGS.report_key(PERIOD)
    assert log.claim(key, now=1_000)
    assert not log.claim(key, now=2_000)
    assert log.claim(key, now=1_000 + 3601)


def walk(raw: str) -> list[Message]:
    return list(email.message_from_string(raw).walk())


def test_the_email_has_html_inline_images_referenced_by_cid_and_csv_attachments(
    aws: dict[str, Any], runner: DuckDbQueryRunner, tmp_path: Path
) -> None:
    # Given a verified sender, When the weekly report is sent with an outbox
    verify_sender(aws)
    outcome = run(aws, runner, outbox_dir=tmp_path)
    (message,) = sent_messages()
    parts = walk(message.raw_data)
    types = [p.get_content_type() for p in parts]
    # Then: mixed[ alternative[ text, related[ html, png... ] ], csv... ]
    assert types[:5] == ["multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html"]
    html = next(p for p in parts if p.get_content_type() == "text/html").get_payload(decode=True).decode()  # type: ignore[union-attr]
    images = [p for p in parts if p.get_content_type() == "image/png"]
    assert len(images) == 4
    for image in images:
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        assert image.get_payload(decode=True).startswith(b"\x89PNG")  # type: ignore[union-attr]
    attachments = {p.get_filename(): p for p in parts if p.get_content_type() == "text/csv"}
    # (the audiences' persons are not attached: their sizes and where their files are)
    attached = [n for n in QUERY_NAMES if n not in NOT_ATTACHED] + ["campaign_ranking", "audience_sizes"]
    assert sorted(attachments) == sorted(f"featurepulse-{PERIOD.key}-{name}.csv" for name in attached)
    funnel_csv = attachments[f"featurepulse-{PERIOD.key}-feature_funnel.csv"].get_payload(decode=True).decode()  # type: ignore[union-attr]
    funnel = list(csv.DictReader(io.StringIO(funnel_csv)))
    assert {row["feature"] for row in funnel} == {"smart-search", "export"}
    assert all(p.get("Content-Disposition", "").startswith("attachment") for p in attachments.values())
    # And the outbox holds the same message and a browser-readable page with embedded images
    assert outcome.eml_path is not None and outcome.html_path is not None
    assert outcome.eml_path.read_bytes().count(b"Content-Type: text/csv") == len(attached)
    page = outcome.html_path.read_text()
    assert "cid:" not in page and page.count("data:image/png;base64,") == 4
    assert "FeaturePulse report: week 11 of 2026" in email.message_from_string(message.raw_data)["Subject"]


def run_day(aws: dict[str, Any], runner: DuckDbQueryRunner, day: Any, now: datetime, **kwargs: Any) -> Any:
    return run_report(
        runner=runner,
        period=Period.containing("day", day),
        settings=SETTINGS,
        send_log=DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table),
        mailer=SesMailer(aws["sesv2"]),
        now=now,
        **kwargs,
    )


def subjects() -> list[str]:
    # (a long subject is folded after "Subject:"; unfolded, its value is the same text)
    return [
        str(email.message_from_string(m.raw_data, policy=email.policy.default)["Subject"]).strip()
        for m in sent_messages()
    ]


def test_a_partial_day_is_marked_and_does_not_block_the_final_report_which_goes_out_once(
    aws: dict[str, Any], runner: DuckDbQueryRunner
) -> None:
    # Given a verified sender
    verify_sender(aws)
    log = DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table)
    key = SETTINGS.report_key(Period.containing("day", REPORT_DAY))
    # When the day's report runs at 14:30 that day, and again at 18:00
    first = run_day(aws, runner, REPORT_DAY, datetime(2026, 3, 10, 14, 30, tzinfo=UTC))
    second = run_day(aws, runner, REPORT_DAY, datetime(2026, 3, 10, 18, 0, tzinfo=UTC))
    # Then each is a partial report, marked so, recorded as partial
    assert first.status == second.status == "sent" and first.partial and second.partial
    record = log.get(key)
    assert record is not None and record.status == "partial"
    assert record.data_until == int(datetime(2026, 3, 10, 18, 0, tzinfo=UTC).timestamp())
    # When the scheduled run after the day ends, then another one, run
    final = run_day(aws, runner, REPORT_DAY, datetime(2026, 3, 11, 6, 0, tzinfo=UTC))
    again = run_day(aws, runner, REPORT_DAY, datetime(2026, 3, 11, 7, 0, tzinfo=UTC))
    # Then the final report went out once, unmarked, and the record says sent
    assert final.status == "sent" and not final.partial
    assert again.status == "skipped" and "already sent" in again.reason
    assert subjects() == [
        "FeaturePulse report: Tuesday 10 March 2026, partial (data up to 14:30 UTC)",
        "FeaturePulse report: Tuesday 10 March 2026, partial (data up to 18:00 UTC)",
        "FeaturePulse report: Tuesday 10 March 2026",
    ]
    record = log.get(key)
    assert record is not None and record.status == "sent" and record.message_id == final.message_id


def test_a_day_without_events_sends_nothing_records_nothing_and_says_why(
    aws: dict[str, Any], runner: DuckDbQueryRunner, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a verified sender and a day the lake has no event for
    verify_sender(aws)
    # When the scheduled run reports that day
    with caplog.at_level("WARNING", logger="featurepulse.reporting.job"):
        outcome = run_day(aws, runner, EMPTY_DAY, datetime(2026, 3, 13, 6, 0, tzinfo=UTC))
    # Then no e-mail goes out, no record blocks a later run, and the job log says why (not an error)
    assert outcome.status == "empty" and outcome.message_id is None
    assert "there are no events for Thursday 12 March 2026" in outcome.reason
    assert sent_messages() == []
    assert DynamoDbSendLog(aws["dynamodb"], SETTINGS.send_log_table).get(outcome.report_key) is None
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "not sent: there are no events" in warning.getMessage()


def test_after_an_empty_day_every_change_reads_no_previous_data(aws: dict[str, Any], runner: DuckDbQueryRunner) -> None:
    # Given the day after the empty day
    verify_sender(aws)
    # When its report is sent
    run_day(aws, runner, date(2026, 3, 13), datetime(2026, 3, 14, 6, 0, tzinfo=UTC))
    (message,) = sent_messages()
    parts = walk(message.raw_data)
    html = next(p for p in parts if p.get_content_type() == "text/html").get_payload(decode=True).decode()  # type: ignore[union-attr]
    # Then counts and rates alike say "no previous data" (six headline figures), and the header says why
    assert html.count("no previous data") == 6 and "&#9650;" not in html and "&#9660;" not in html
    assert "The previous day (2026-03-12) has no data, so there is nothing to compare with." in html
