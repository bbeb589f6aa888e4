"""The demo's check of the e-mailed report against the generator's ground truth (featurepulse/local/truth_check.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from featurepulse.local.ground_truth import GroundTruth
from featurepulse.local.truth_check import ReportReadError, compare, report_tables
from featurepulse.reporting.mime import Attachment, build_message


def _truth() -> GroundTruth:
    return GroundTruth(
        day=date(2026, 12, 4),
        active_persons=3,
        feature_viewers=2,
        adopters=1,
        completers=1,
        funnel={"smart-search": {"viewed": 2, "used": 1, "completed": 1}},
        attribution={("google", "cpc", "launch"): {"reached": 2, "adopted": 1, "completed": 1}},
        experiments={("exp-1", "A"): {"exposed": 2, "converted": 1}},
    )


def _eml(tmp_path: Path, summary_csv: str) -> Path:
    attachments = [
        Attachment("featurepulse-day-2026-12-04-period_summary.csv", summary_csv.encode()),
        Attachment(
            "featurepulse-day-2026-12-04-feature_funnel.csv",
            b"feature,funnel_viewed,funnel_used,funnel_completed\nsmart-search,2,1,1\n",
        ),
        Attachment(
            "featurepulse-day-2026-12-04-campaign_attribution.csv",
            b"campaign_source,campaign_medium,campaign_name,campaign_reached,campaign_adopters,campaign_completers\n"
            b"google,cpc,launch,2,1,1\n",
        ),
        Attachment(
            "featurepulse-day-2026-12-04-experiment_results.csv",
            b"experiment_id,variation_id,exposed,converted\nexp-1,A,2,1\n",
        ),
    ]
    message = build_message(
        subject="report",
        sender="reports@example.com",
        recipients=["m@example.com"],
        text="t",
        html="<p>t</p>",
        images=[],
        attachments=attachments,
        date=datetime(2026, 12, 4, tzinfo=UTC),
    )
    path = tmp_path / "report.eml"
    path.write_bytes(bytes(message))
    return path


def test_a_report_whose_figures_equal_the_ground_truth_matches_on_every_figure(tmp_path: Path):
    # Given an e-mail whose attachments carry exactly the ground truth's figures
    eml = _eml(tmp_path, "events,active_persons,feature_viewers,adopters,completers\n10,3,2,1,1\n")
    # When it is compared with the ground truth
    checks = compare(report_tables(eml), _truth())
    # Then every figure is checked (4 headline + 3 funnel + 3 campaign + 2 experiment) and all match
    assert len(checks) == 12
    assert all(c.matches for c in checks)


def test_a_report_counting_ids_instead_of_persons_is_caught(tmp_path: Path):
    # Given an e-mail whose active figure counts an identified visitor twice (4 ids for 3 persons)
    eml = _eml(tmp_path, "events,active_persons,feature_viewers,adopters,completers\n10,4,2,1,1\n")
    # When it is compared, Then exactly that figure differs
    wrong = [c for c in compare(report_tables(eml), _truth()) if not c.matches]
    assert [(c.metric, c.report, c.truth) for c in wrong] == [("active_persons", 4, 3)]


def test_a_figure_missing_from_the_report_differs(tmp_path: Path):
    # Given a ground truth with a feature the report's funnel does not list
    truth = _truth()
    truth.funnel["bulk-edit"] = {"viewed": 1, "used": 0, "completed": 0}
    eml = _eml(tmp_path, "events,active_persons,feature_viewers,adopters,completers\n10,3,2,1,1\n")
    # When compared, Then the missing rows show as differing with no report value
    wrong = [c for c in compare(report_tables(eml), truth) if not c.matches]
    assert {(c.metric, c.scope, c.report) for c in wrong} == {
        ("funnel_viewed", "bulk-edit", None),
        ("funnel_used", "bulk-edit", None),
        ("funnel_completed", "bulk-edit", None),
    }


def test_an_e_mail_without_report_attachments_is_refused_with_a_reason(tmp_path: Path):
    # Given an e-mail that is not a featurepulse report
    path = tmp_path / "other.eml"
    path.write_bytes(b"Subject: hello\n\nnothing here\n")
    # When read, Then a clear error names the file
    with pytest.raises(ReportReadError, match="no period_summary attachment"):
        report_tables(path)


def _segment_eml(tmp_path: Path, segment_csv: str, audience_file: Path) -> Path:
    attachments = [
        Attachment(
            "featurepulse-day-2026-12-04-period_summary.csv",
            b"events,active_persons,feature_viewers,adopters,completers\n10,3,2,1,1\n",
        ),
        Attachment("featurepulse-day-2026-12-04-feature_adoption_by_segment.csv", segment_csv.encode()),
        Attachment(
            "featurepulse-day-2026-12-04-audience_sizes.csv",
            f"feature,audience,audience_persons,location\nsmart-search,viewed-not-adopted,1,{audience_file}\n".encode(),
        ),
    ]
    message = build_message(
        subject="report",
        sender="reports@example.com",
        recipients=["m@example.com"],
        text="t",
        html="<p>t</p>",
        images=[],
        attachments=attachments,
        date=datetime(2026, 12, 4, tzinfo=UTC),
    )
    path = tmp_path / "segments.eml"
    path.write_bytes(bytes(message))
    return path


def test_segment_figures_and_audience_files_are_checked_person_by_person(tmp_path: Path) -> None:
    # Given a ground truth of two plans and one identified viewer who did not adopt
    truth = GroundTruth(day=date(2026, 12, 4), active_persons=3, feature_viewers=2, adopters=1, completers=1)
    truth.segment_active = {"team": 2, "(unknown)": 1}
    truth.segment_adopters = {("smart-search", "team"): 1, ("smart-search", "(unknown)"): 0}
    truth.audiences = {("smart-search", "viewed-not-adopted"): {("usr_1", "usr_1", "team")}}
    segments = (
        "feature,segment_trait,segment_value,active_persons,adopters,adoption_rate\n"
        "smart-search,plan,team,2,1,0.5\nsmart-search,plan,(unknown),1,0,0.0\n"
    )
    exact = tmp_path / "exact.csv"
    exact.write_text("person_id,user_ids,plan\r\nusr_1,usr_1,team\r\n", encoding="utf-8")
    # When the e-mail's segment table and the audience file it points to are compared
    checks = compare(report_tables(_segment_eml(tmp_path, segments, exact)), truth)
    # Then every segment figure and the audience's size and rows are checked, and match
    names = {(c.metric, c.scope) for c in checks}
    assert ("segment adopters", "smart-search / plan = team") in names
    assert ("audience rows differing", "smart-search / viewed-not-adopted") in names
    assert all(c.matches for c in checks)
    # And an audience file listing someone else (or the right person with the wrong plan) differs
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("person_id,user_ids,plan\r\nusr_1,usr_1,free\r\n", encoding="utf-8")
    differing = [c for c in compare(report_tables(_segment_eml(tmp_path, segments, wrong)), truth) if not c.matches]
    assert [(c.metric, c.report) for c in differing] == [("audience rows differing", 2)]
