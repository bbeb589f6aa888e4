"""The template with every optional feature on (the deploy tier's synth): cdk-nag and cfn-lint clean, as the
issue's "done" asks; the default synth has its own checks in tests/infrastructure/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from tests.deploy.conftest import ALL_FEATURES_CONTEXT, CloudAssembly
from tests.infrastructure.conftest import REPO_ROOT

pytestmark = [pytest.mark.deploy]

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_every_optional_feature_is_on(assembly: CloudAssembly) -> None:
    # Given the deploy tier's synth, Then each optional feature produced its resources
    assert assembly.of_type("AWS::QuickSight::Dashboard"), "QuickSight"
    assert assembly.of_type("AWS::SES::EmailIdentity"), "report sender"
    subscriptions = assembly.of_type("AWS::SNS::Subscription")
    assert any(s["Properties"].get("Endpoint") == ALL_FEATURES_CONTEXT["alarmEmail"] for s in subscriptions.values())
    (stream,) = assembly.of_type("AWS::Kinesis::Stream").values()
    assert stream["Properties"]["StreamModeDetails"]["StreamMode"] == "PROVISIONED"
    # The opt-in WAF web ACL (per-IP rate rule + two AWS managed groups), on the API stage
    (acl,) = assembly.of_type("AWS::WAFv2::WebACL").values()
    assert len(acl["Properties"]["Rules"]) == 3
    assert len(assembly.of_type("AWS::WAFv2::WebACLAssociation")) == 1


def test_cdk_nag_finds_nothing_unsuppressed_with_every_feature_on(assembly: CloudAssembly) -> None:
    annotations = assembly.synthesized.annotations
    findings = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    findings += annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [f"{f.id}: {str(f.entry.data)[:200]}" for f in findings] == []


def test_cfn_lint_passes_with_every_feature_on(assembly: CloudAssembly) -> None:
    # When cfn-lint checks the template from the repository root (so .cfnlintrc applies)
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", str(assembly.synthesized.template_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    # Then there is no error and no warning
    assert [f"{f['Level']} {f['Rule']['Id']} {f['Message']}" for f in findings] == []
    assert result.returncode == 0, result.stderr
