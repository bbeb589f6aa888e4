"""cdk-nag AwsSolutions on the synthesized stack: no unsuppressed finding, every suppression justified."""

from __future__ import annotations

import csv
from typing import Any

from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from cdk.nag import MIN_REASON_LENGTH
from tests.infrastructure.conftest import Synthesized

AWS_SOLUTIONS = Match.string_like_regexp(r"AwsSolutions-.*")


def _messages(findings: list[Any]) -> list[str]:
    return [f"{finding.id}: {str(finding.entry.data)[:200]}" for finding in findings]


def test_stack_has_no_unsuppressed_aws_solutions_errors(synthesized: Synthesized) -> None:
    # Given the stack synthesized with AwsSolutionsChecks (added by app.py)
    # When we collect the error annotations of the pack / Then there are none
    assert _messages(synthesized.annotations.find_error("*", AWS_SOLUTIONS)) == []


def test_stack_has_no_unsuppressed_aws_solutions_warnings(synthesized: Synthesized) -> None:
    assert _messages(synthesized.annotations.find_warning("*", AWS_SOLUTIONS)) == []


def test_nag_pack_really_ran_on_the_stack(synthesized: Synthesized) -> None:
    # Given the report cdk-nag writes next to the template
    (report,) = synthesized.outdir.glob(f"AwsSolutions-*{synthesized.stack.stack_name}-NagReport.csv")
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Then it checked the resources that matter (a vacuous pass would have no rows)
    checked = {row["Rule ID"] for row in rows}
    assert {"AwsSolutions-S10", "AwsSolutions-KDS1", "AwsSolutions-IAM5", "AwsSolutions-APIG3"} <= checked
    assert all(row["Compliance"] != "Non-Compliant" for row in rows)


def test_every_suppression_states_a_specific_reason(synthesized: Synthesized) -> None:
    # Given every cdk-nag suppression recorded in the template's resource metadata
    suppressions = [
        (logical_id, rule)
        for logical_id, body in synthesized.template.to_json()["Resources"].items()
        for rule in body.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressions
    # Then each names its rule and gives a sentence a reviewer can check
    for logical_id, rule in suppressions:
        assert rule["id"].startswith("AwsSolutions-"), logical_id
        assert len(rule["reason"]) >= MIN_REASON_LENGTH, (logical_id, rule)
    # And the wildcard-permission suppressions are granular (limited to named findings), never blanket
    iam5 = [rule for _, rule in suppressions if rule["id"] == "AwsSolutions-IAM5"]
    assert iam5
    assert all(rule.get("applies_to") for rule in iam5)


def test_nag_pack_reports_a_violation_when_there_is_one() -> None:
    # Given a stack with an unencrypted, unlogged bucket and the same checks as app.py
    app = App()
    stack = Stack(app, "Violating")
    s3.Bucket(stack, "Plain")
    Aspects.of(app).add(AwsSolutionsChecks())
    # When it is synthesized / Then the harness above would see the errors
    errors = Annotations.from_stack(stack).find_error("*", AWS_SOLUTIONS)
    assert any("AwsSolutions-S10" in str(error.entry.data) for error in errors)
