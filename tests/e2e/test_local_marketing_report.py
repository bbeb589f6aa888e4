"""End to end (docs/reports.md): the bounded demo (`make run`) mails a report with adoption by plan, the demo goal's
status, the campaign ranking with cost per adopter and the audiences' sizes; its check against the traffic
generator's ground truth (segment figures, and every audience file row by row) passes, and the audience files
hold exactly the persons of each definition."""

from __future__ import annotations

import csv
import email
import io
from pathlib import Path

import pytest
from rich.console import Console

from featurepulse.domain.schema import parse_timestamp
from featurepulse.local.demo import DemoOutcome, run_demo
from featurepulse.local.ground_truth import ground_truth
from featurepulse.local.reports import latest_lake_day
from featurepulse.local.runtime import LocalStackOptions
from featurepulse.local.truth_check import compare, report_tables


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoOutcome, Path, str]:
    root = tmp_path_factory.mktemp("local") / ".featurepulse"
    options = LocalStackOptions(root=root, port=0, port_is_default=False, only_components=frozenset({"lake", "report"}))
    console = Console(file=io.StringIO(), width=200)
    outcome = run_demo(options, duration_s=5, rate_eps=40, seed=11, console=console)
    assert isinstance(outcome, DemoOutcome)
    return outcome, root, console.file.getvalue()  # type: ignore[attr-defined]


def test_the_demo_passes_its_ground_truth_check_including_segments_and_audiences(
    demo: tuple[DemoOutcome, Path, str],
) -> None:
    outcome, _, printed = demo
    # Then the demo succeeded: every figure, segment figures and audience rows included, equals the ground truth
    assert outcome.exit_code == 0, printed[-3000:]
    assert "segment adopters" in printed and "audience rows differing" in printed
    assert "differs" not in printed


def test_the_demo_shows_adoption_by_plan_the_goal_the_ranking_with_cost_and_audience_sizes(
    demo: tuple[DemoOutcome, Path, str],
) -> None:
    _, root, printed = demo
    assert "adoption by plan, smart-search:" in printed
    assert "goal Adoption rate of ai-summary >= 25.0% by 2027-01-31:" in printed
    assert "cost per adopter $" in printed and "campaign #1 " in printed
    assert "audience smart-search / viewed-not-adopted:" in printed
    # And the e-mail itself carries them (HTML sections and the attached tables)
    (eml,) = (root / "outbox").glob("*.eml")
    tables = report_tables(eml)
    assert {r["segment_value"] for r in tables["feature_adoption_by_segment"]} >= {"(unknown)"}
    assert len({r["segment_value"] for r in tables["feature_adoption_by_segment"]}) >= 3
    names = {p.get_filename() or "" for p in email.message_from_bytes(eml.read_bytes()).walk()}
    (trends,) = [n for n in names if n.endswith("-goal_trends.csv")]
    assert trends
    message = email.message_from_bytes(eml.read_bytes())
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True)
    page = html.decode()  # type: ignore[union-attr]
    for section in ("Goals", "Adoption by plan", "Campaign ranking", "Audiences", "Cost per adopter"):
        assert section in page, section


def test_every_audience_file_lists_exactly_the_persons_of_its_definition(demo: tuple[DemoOutcome, Path, str]) -> None:
    outcome, root, _ = demo
    day = latest_lake_day(root / "lake")
    assert day is not None
    truth = ground_truth(
        outcome.traffic.sent_requests,
        day,
        accepted_ids=outcome.traffic.accepted_ids,
        clock_skew_ms=outcome.traffic.clock_skew_ms,
        event_times={str(e["event_id"]): parse_timestamp(str(e["timestamp"])) for e in outcome.stream.events},
    )
    files = sorted((root / "lake" / "audiences").rglob("audience.csv"))
    assert len(files) == len(truth.audiences) > 0 and any(truth.audiences.values())
    for (feature, audience), members in truth.audiences.items():
        (path,) = [p for p in files if f"feature={feature}/" in str(p) and f"audience={audience}/" in str(p)]
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert rows[0] == ["person_id", "user_ids", "plan"]
        assert {tuple(r) for r in rows[1:]} == members, (feature, audience)
    # And the e-mailed sizes are those of the files
    checks = compare(report_tables(next((root / "outbox").glob("*.eml"))), truth)
    assert all(c.matches for c in checks if c.metric.startswith("audience"))
