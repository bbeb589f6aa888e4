"""The report job corrects the live day rows (featurepulse/realtime/finalize.py): it is told the aggregates
table, and its role may write, delete and read that table's items, nothing more on it."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.conftest import Synthesized

CORRECTION_ACTIONS = {
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
}


def _statements_on(synthesized: Synthesized, role_id: str, table_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any(table_id in str(r) for r in resources):
                found.append(statement)
    return found


def test_the_report_job_is_told_the_aggregates_table(synthesized: Synthesized) -> None:
    _, job = synthesized.resource(synthesized.stack.reporting.job)
    table_id, _ = synthesized.resource(synthesized.stack.realtime.table)
    assert job["Properties"]["DefaultArguments"]["--aggregates_table"] == {"Ref": table_id}


def test_the_report_role_writes_and_reads_the_aggregates_items_only(synthesized: Synthesized) -> None:
    role_id, _ = synthesized.resource(synthesized.stack.reporting.role)
    table_id, _ = synthesized.resource(synthesized.stack.realtime.table)
    statements = _statements_on(synthesized, role_id, table_id)
    actions: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions |= set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    # Then exactly the correction's item actions: no Scan, no table management, no stream
    assert actions == CORRECTION_ACTIONS
