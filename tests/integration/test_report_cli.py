"""`featurepulse report` on a local lake: mails once, --force re-sends, user errors are one line."""

from __future__ import annotations

import email
import json
from pathlib import Path

import pytest

from featurepulse.cli import main
from featurepulse.local.reports import FileSendLog
from featurepulse.reporting.dal.send_log import SendRecord
from tests.reporting_dataset import demo_events, write_lake


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lake")
    write_lake(path, demo_events())
    return path


def report(*args: str) -> int:
    return main(["report", *args])


def test_report_mails_a_day_once_and_force_mails_it_again(
    lake_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a local lake and an empty outbox (no local stack running: in-process moto SES)
    outbox = tmp_path / "outbox"
    common = ["--date", "2026-03-10", "--lake-dir", str(lake_dir), "--outbox", str(outbox), "--root", str(tmp_path)]
    # When the report runs twice, then with --force
    assert report(*common) == 0
    first = capsys.readouterr().out
    assert report(*common) == 0
    second = capsys.readouterr().out
    assert report(*common, "--force") == 0
    # Then the first sends and writes the outbox, the second is skipped, --force sends again
    assert "sent through SES" in first and "html:" in first
    assert "already sent" in second
    eml = outbox / "featurepulse-feature-report-day-2026-03-10.eml"
    message = email.message_from_bytes(eml.read_bytes())
    assert message["Subject"] == "FeaturePulse report: Tuesday 10 March 2026"
    assert (outbox / "featurepulse-feature-report-day-2026-03-10.html").read_text().count("<table") > 3
    sent = json.loads((outbox / ".sent.json").read_text())
    assert sent["feature-report#day-2026-03-10"]["status"] == "sent"


def test_report_reads_paths_from_the_address_book(lake_dir: Path, tmp_path: Path) -> None:
    # Given a local.json that names the lake and the outbox
    (tmp_path / "local.json").write_text(json.dumps({"lake_dir": str(lake_dir), "outbox_dir": str(tmp_path / "box")}))
    # When the report runs without paths, Then it finds them
    assert report("--period", "week", "--date", "2026-03-11", "--root", str(tmp_path)) == 0
    assert (tmp_path / "box" / "featurepulse-feature-report-week-2026-W11.eml").is_file()


def test_a_missing_lake_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report("--lake-dir", str(tmp_path / "nowhere"), "--root", str(tmp_path)) == 2
    assert capsys.readouterr().err.strip().startswith("featurepulse: error: no lake at")


def test_file_send_log_blocks_a_second_claim_until_stale_or_failed(tmp_path: Path) -> None:
    log = FileSendLog(tmp_path / ".sent.json", stale_after_s=100)
    assert log.claim("k", now=1_000)
    assert not log.claim("k", now=1_050)
    assert log.claim("k", now=1_101)
    log.mark_failed("k", error="boom", now=1_102)
    assert log.claim("k", now=1_103)
    log.mark_sent("k", message_id="m", recipients=1, now=1_104)
    assert not log.claim("k", now=99_999)
    assert log.claim("k", now=99_999, force=True)


def test_a_day_without_events_is_not_mailed_exits_0_and_says_why(
    lake_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a lake whose 12 March has no event
    outbox = tmp_path / "outbox"
    # When the report of that day is asked for
    code = report("--date", "2026-03-12", "--lake-dir", str(lake_dir), "--outbox", str(outbox), "--root", str(tmp_path))
    # Then nothing is mailed or written, the exit code is 0 (not a failure for a scheduler), and it says why
    out = capsys.readouterr().out
    assert code == 0
    assert "report feature-report#day-2026-03-12 not sent: there are no events for Thursday 12 March 2026" in out
    assert "this is not an error" in out
    assert not list(outbox.glob("*.eml")) and not (outbox / ".sent.json").exists()


def test_file_send_log_a_partial_send_does_not_block_the_final_one(tmp_path: Path) -> None:
    # Given a partial report sent for a period
    log = FileSendLog(tmp_path / ".sent.json")
    assert log.claim("k", now=1_000)
    log.mark_sent("k", message_id="partial-1", recipients=1, now=1_001, data_until=1_000)
    record = log.get("k")
    assert record is not None and record.status == "partial" and record.data_until == 1_000
    # When the final run claims it, Then it may; once the final one is sent, no run may without force
    assert log.claim("k", now=2_000)
    log.mark_sent("k", message_id="final", recipients=1, now=2_001)
    assert log.get("k") == SendRecord("k", "sent", "final", 2_001, None)
    assert not log.claim("k", now=3_000)


def test_a_goal_on_a_metric_outside_the_catalogue_is_a_one_line_error(
    lake_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    goals = '[{"metric": "adoption", "feature": "export", "target": 0.2, "deadline": "2027-01-31"}]'
    # When the report is asked with a goal naming no catalogue metric
    code = report("--lake-dir", str(lake_dir), "--root", str(tmp_path), "--goals", goals)
    # Then it refuses before running anything, naming the metric and the ones a goal may use
    err = capsys.readouterr().err
    assert code == 2 and "--goals" in err and "'adoption' is not a metric of the catalogue" in err
    assert "adoption_rate, adopters, feature_viewers" in err
