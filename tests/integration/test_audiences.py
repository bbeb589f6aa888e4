"""Audiences back to campaigns (docs/reports.md, "Audiences"): the report run writes, per feature, the identified
persons of each audience as CSV under the lake's audiences/ and lists their sizes and paths in the e-mail;
`featurepulse audiences export` gives the same file; erasure removes a person from every audience file."""

from __future__ import annotations

import csv
import email
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from featurepulse.cli import main
from featurepulse.domain.identity import links_from_events, resolve_persons
from featurepulse.domain.metrics_reference import audience_members, known_user_ids, person_events
from featurepulse.lake.erasure import AUDIENCES_PREFIX as ERASURE_PREFIX
from featurepulse.lake.erasure import ErasureRequest, LakeEraser
from featurepulse.lake.store import LocalStore
from featurepulse.local.reports import LocalReportTarget, run_local_report
from featurepulse.reporting.audiences import AUDIENCES, AUDIENCES_PREFIX, audience_key
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import REPORT_DAY, demo_events, make_event, write_lake

DAY = Period.containing("day", REPORT_DAY)
NOW = datetime(2026, 3, 11, 6, tzinfo=UTC)


def rows_with_traits() -> list[dict[str, Any]]:
    """The demo traffic, a plan for two users, and a user whose id starts like a spreadsheet formula."""
    rows = demo_events()
    at = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 0, 30)
    rows.append(make_event("idt-1", "user-001", at, type_="identify", event=None, properties='{"plan": "team"}'))
    rows.append(make_event("idt-2", "user-002", at, type_="identify", event=None, properties='{"plan": "=1+1"}'))
    rows.append(make_event("f-1", "=evil", at, event="Feature Viewed", feature="export", stage="view"))
    return rows


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    root = tmp_path_factory.mktemp("audiences")
    lake, outbox = root / "lake", root / "outbox"
    write_lake(lake, rows_with_traits())
    outcome, _ = run_local_report("day", REPORT_DAY, LocalReportTarget(lake, outbox), now=NOW)
    assert outcome.status == "sent"
    return lake, outbox, outcome


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_report_writes_both_audiences_of_every_feature_with_exactly_the_identified_members(
    reported: tuple[Path, Path, Any],
) -> None:
    lake, _, outcome = reported
    rows = rows_with_traits()
    events = person_events(rows, resolve_persons(links_from_events(rows)))
    members = audience_members(events, DAY.start, DAY.end)
    known = known_user_ids([e for e in events if e.day == REPORT_DAY])
    for feature in ("smart-search", "export"):
        for audience in AUDIENCES:
            # Then the file is where the layout says, and lists exactly the reference's identified members
            path = lake / audience_key(feature, audience, DAY)
            assert path.is_file()
            listed = read_csv(path)
            want = sorted(p for p in members.get((feature, audience), set()) if p in known)
            assert [r["person_id"].lstrip("'") for r in listed] == want
            assert all(r["user_ids"].lstrip("'").split(";") == known[r["person_id"].lstrip("'")] for r in listed)
            # And the outcome (what the demo prints and the e-mail lists) says its size and where it is
            assert outcome.audiences[f"{feature} / {audience}"] == (len(want), str(path.resolve()))
    assert any(outcome.audiences[k][0] > 0 for k in outcome.audiences)


def test_traits_and_formula_like_cells_are_written_neutralized(reported: tuple[Path, Path, Any]) -> None:
    lake, _, _ = reported
    listed = read_csv(lake / audience_key("export", "viewed-not-adopted", DAY))
    evil = next(r for r in listed if r["person_id"] == "'=evil")
    assert evil["user_ids"] == "'=evil" and set(listed[0]) == {"person_id", "user_ids", "plan"}
    plans = {
        r["person_id"]: r["plan"]
        for f in ("smart-search", "export")
        for a in AUDIENCES
        for r in read_csv(lake / audience_key(f, a, DAY))
    }
    assert plans.get("user-002", "'=1+1") == "'=1+1" and plans.get("user-001", "team") == "team"


def test_the_email_lists_each_audience_size_and_path_but_never_attaches_the_persons(
    reported: tuple[Path, Path, Any],
) -> None:
    _, _outbox, outcome = reported
    message = email.message_from_bytes(Path(outcome.eml_path).read_bytes())
    names = [p.get_filename() or "" for p in message.walk()]
    assert any(n.endswith("-audience_sizes.csv") for n in names)
    assert not any(n.endswith("-feature_audiences.csv") for n in names)
    html = Path(outcome.html_path).read_text(encoding="utf-8")
    assert "Audiences" in html and "viewed-not-adopted" in html
    for _size, location in outcome.audiences.values():
        assert location in html


def test_export_gives_the_same_csv_as_the_report_run(
    reported: tuple[Path, Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake, _, _ = reported
    out = tmp_path / "export.csv"
    args = ["audiences", "export", "--feature", "export", "--audience", "viewed-not-adopted", "--period", "day"]
    assert (
        main(
            [
                *args,
                "--date",
                REPORT_DAY.isoformat(),
                "--lake-dir",
                str(lake),
                "--root",
                str(tmp_path),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_bytes() == (lake / audience_key("export", "viewed-not-adopted", DAY)).read_bytes()
    assert "persons ->" in capsys.readouterr().out
    # And to standard output without --out
    assert main([*args, "--date", REPORT_DAY.isoformat(), "--lake-dir", str(lake), "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == out.read_bytes().decode("utf-8")


def test_erasure_removes_the_person_from_every_audience_file(reported: tuple[Path, Path, Any], tmp_path: Path) -> None:
    lake, _, _ = reported
    # Given a copy of the lake's audiences, and a person listed in at least one of them
    copy = tmp_path / "lake"
    for path in (lake / "audiences").rglob("*.csv"):
        target = copy / path.relative_to(lake)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    listed = {r["person_id"] for p in copy.rglob("*.csv") for r in read_csv(p)}
    victim = next(p for p in sorted(listed) if not p.startswith("'"))
    # When the person is erased (and the one whose id looks like a formula)
    audit = LakeEraser(LocalStore(copy)).erase(ErasureRequest(frozenset({victim, "=evil"})), requested_by="test")
    # Then no audience file lists them any more, the others stay, and the audit counts the rows
    after = {r["person_id"] for p in copy.rglob("*.csv") for r in read_csv(p)}
    assert victim not in after and "'=evil" not in after
    assert after == listed - {victim, "'=evil"}
    assert audit.audience_rows_removed >= 2 and audit.audience_objects
    assert ERASURE_PREFIX == AUDIENCES_PREFIX
