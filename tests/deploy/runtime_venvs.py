"""Virtual environments that stand for an AWS runtime: its Python version (pyenv) and only the libraries it
provides, plus what the deployed definition installs. Cached under `.build/runtime-venvs/` (git-ignored),
keyed by a hash of everything that goes in, so a rerun reuses them; a venv is only used once complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".build" / "runtime-venvs"
COMPLETE = ".complete"


def pyenv_python(version: str) -> Path:
    """The interpreter of an exact Python version from pyenv (these machines have 3.9 to 3.13)."""
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        roots.insert(0, found or None)
    for root in filter(None, roots):
        candidate = Path(root) / "versions" / version / "bin" / "python"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Python {version} is not installed under pyenv (tried {roots})")


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args[:3])}... failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def runtime_venv(name: str, python_version: str, steps: Sequence[Sequence[str]]) -> Path:
    """A venv of `python_version` where each step (a list of pip requirements) was installed in turn, with
    binary wheels only (no runtime here compiles anything). Returns the venv's python."""
    key = hashlib.sha256(repr((python_version, [list(step) for step in steps])).encode()).hexdigest()[:16]
    venv = CACHE_DIR / f"{name}-{key}"
    python = venv / "bin" / "python"
    if (venv / COMPLETE).is_file():
        return python
    for stale in CACHE_DIR.glob(f"{name}-*"):  # the same runtime with other pins: never used again
        shutil.rmtree(stale, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(pyenv_python(python_version)), "-m", "venv", str(venv)], check=True, capture_output=True)
    for step in steps:
        if step:
            _pip(python, "install", "--quiet", "--only-binary=:all:", *step)
    (venv / COMPLETE).write_text("\n\n".join("\n".join(step) for step in steps) + "\n", encoding="utf-8")
    return python


def installed_distributions(python: Path) -> dict[str, str]:
    """Normalized distribution name -> version, as the venv's pip sees them (pip itself left out)."""
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        name, _, version = line.partition("==")
        if version and normalize(name) not in {"pip", "setuptools", "wheel"}:
            found[normalize(name)] = version
    return found


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def pins(requirements: Sequence[str]) -> dict[str, str]:
    """`name==version` strings -> normalized name -> version (extras dropped)."""
    result: dict[str, str] = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        result[normalize(name.split("[", 1)[0])] = version.strip()
    return result
