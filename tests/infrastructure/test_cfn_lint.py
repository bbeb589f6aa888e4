"""cfn-lint on the synthesized template, with the repository's .cfnlintrc (as `make synth` runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.infrastructure.conftest import REPO_ROOT, Synthesized

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_synthesized_template_passes_cfn_lint_without_errors_or_warnings(synthesized: Synthesized) -> None:
    # Given the template written by the session's synth
    assert synthesized.template_path.is_file()
    # When cfn-lint checks it from the repository root (so .cfnlintrc applies)
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", str(synthesized.template_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    findings = json.loads(result.stdout or "[]")
    # Then there is no error, and no warning either (make synth fails on warnings)
    summary = [f"{f['Level']} {f['Rule']['Id']} {f['Message']}" for f in findings]
    assert [line for line in summary if line.startswith("Error")] == []
    assert [line for line in summary if line.startswith("Warning")] == []
    assert result.returncode == 0, result.stderr
