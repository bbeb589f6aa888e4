"""`cdk synth` through the CDK CLI (what `make synth` runs): cdk.json, app.py and context, offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infrastructure.conftest import REPO_ROOT

NPX = shutil.which("npx")


def _cdk_synth(outdir: Path, *context: str) -> subprocess.CompletedProcess[str]:
    assert NPX is not None
    args = [NPX, "--no-install", "cdk", "synth", "--quiet", "--no-notices", "--output", str(outdir)]
    for item in context:
        args += ["--context", item]
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.skipif(NPX is None or not (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="no CDK CLI")
def test_cli_synthesizes_with_context_values_from_the_command_line(tmp_path: Path) -> None:
    # Given the CLI, cdk.json and `-c` values (strings) / When `cdk synth` runs
    result = _cdk_synth(tmp_path, "skipLambdaDependencies=true", "shardCount=2", "streamMode=provisioned")
    # Then it writes the template, with the context applied
    assert result.returncode == 0, result.stderr[-2000:]
    template = json.loads((tmp_path / "FeaturePulse.template.json").read_text(encoding="utf-8"))
    (stream,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Kinesis::Stream"]
    assert stream["Properties"]["ShardCount"] == 2


@pytest.mark.skipif(NPX is None or not (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="no CDK CLI")
def test_cli_refuses_an_invalid_context_value_with_a_readable_reason(tmp_path: Path) -> None:
    # Given `-c logRetentionDays=8` (not a CloudWatch retention) / When `cdk synth` runs
    result = _cdk_synth(tmp_path, "skipLambdaDependencies=true", "logRetentionDays=8")
    # Then synth fails and says which key is wrong, without a Python traceback
    assert result.returncode != 0
    assert "featurepulse: invalid CDK context: logRetentionDays" in result.stderr
    assert "Traceback" not in result.stderr
