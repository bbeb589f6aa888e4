"""What each deployed Python runtime ships: whole packages, never lists of modules.

A runtime's code is the `featurepulse` root package's own modules plus the sub-packages (folders) it names,
each copied whole. Nothing is picked or left out module by module: code that only local mode needs lives in
`featurepulse/local/`, which no runtime ships, and the import contracts in pyproject.toml (`make lint`) keep
the shipped packages' entry points from importing it, or duckdb, moto and the other local-only libraries.
tests/deploy/ imports and runs each artifact from cdk.out under its runtime's Python.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ROOT_PACKAGE = "featurepulse"
# Build and cache debris, never code.
EXCLUDED_NAMES = ("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache", "tests", "*.egg-info")


def _is_excluded(relative: Path) -> bool:
    return any(fnmatch(part, pattern) for part in relative.parts for pattern in EXCLUDED_NAMES)


@dataclass(frozen=True)
class RuntimeSources:
    """The folders one runtime ships whole (relative to the repository root), besides the root package."""

    name: str
    packages: tuple[str, ...]

    def files(self, root: Path = REPO_ROOT) -> Iterator[Path]:
        """Every source file shipped, in a stable order (the root package's modules first)."""
        yield from sorted(p for p in (root / ROOT_PACKAGE).glob("*.py") if p.is_file())
        for package in self.packages:
            folder = root / package
            if not (folder / "__init__.py").is_file():
                raise FileNotFoundError(f"{self.name}: {folder} is not a Python package")
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not _is_excluded(path.relative_to(root)):
                    yield path

    def copy_to(self, out_dir: Path, root: Path = REPO_ROOT) -> None:
        for source in self.files(root):
            target = out_dir / source.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


# The ingest and erasure Lambdas (one asset): the handlers and what they import.
LAMBDA_SOURCES = RuntimeSources(
    name="lambda",
    packages=(
        "lambdas",
        "featurepulse/domain",
        "featurepulse/dal",
        "featurepulse/ingest",
        "featurepulse/lake",
        "featurepulse/identity",
        "featurepulse/traits",  # the erasure removes a user's CRM trait rows (docs/segments.md)
    ),
)

# The report job (Glue 5): the reporting package and the pure domain, the identity build it runs before its
# queries (identity, and the lake's object store), and the daily correction of the live rows
# (featurepulse/realtime/finalize.py). The job script is a separate asset (glue_jobs/).
REPORT_JOB_SOURCES = RuntimeSources(
    name="report-job",
    packages=(
        "featurepulse/domain",
        "featurepulse/reporting",
        "featurepulse/identity",
        "featurepulse/lake",
        "featurepulse/realtime",
    ),
)
