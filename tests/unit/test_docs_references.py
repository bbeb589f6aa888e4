"""The design contract lives in the repository: code and docs cite only documents that exist here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A design or style file cited without a path inside the repository (e.g. "DESIGN.md section 4").
OUTSIDE = re.compile(r"(?<![/\w])(DESIGN|STYLE)\.md")
CITED_DOC = re.compile(r"\bdocs/([a-z0-9_-]+\.md)")


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "*.py", "*.sql", "*.md", "*.html", "*.mjs", "*.toml", "Makefile"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    here = Path(__file__).resolve()
    return [REPO / n for n in names if (REPO / n).is_file() and (REPO / n).resolve() != here]


def test_no_file_cites_a_design_or_style_document_outside_the_repository():
    # Given every tracked source and document
    offenders = []
    for path in _tracked_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            # When a line names DESIGN.md or STYLE.md without a repository path
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:100]}")
    # Then there is none: the contract is docs/design.md
    assert offenders == []


def test_every_document_the_code_cites_exists():
    # Given every `docs/<name>.md` cited anywhere
    missing = set()
    for path in _tracked_text_files():
        for name in CITED_DOC.findall(path.read_text(encoding="utf-8", errors="replace")):
            if not (REPO / "docs" / name).is_file():
                missing.add(f"{path.relative_to(REPO)} cites docs/{name}")
    # Then each one is in the repository
    assert sorted(missing) == []
