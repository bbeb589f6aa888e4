"""Lambda code bundled on this machine, never in Docker.

The bundle is the packages of `cdk.runtime_sources.LAMBDA_SOURCES`, each shipped whole (`lambdas/` and the
`featurepulse` packages the handlers import; never `featurepulse/local/`), plus the runtime dependencies of
`pyproject.toml` (`[project].dependencies`: one list for the Lambda and the project), installed by pip as
manylinux wheels for the Lambda's platform (arm64, CPython 3.12), whatever this machine is. pip's cache is
used, so a second bundling downloads nothing. tests/deploy/test_lambda_artifact.py runs the handlers from
the bundle cdk.out holds under Python 3.12.

The asset hash is computed from the inputs (sources, dependency pins, target platform), so CDK skips the
bundling when `cdk.out` already holds a bundle of the same inputs. `skip_dependencies=True` copies the
sources only: a fast synth for tests that inspect the template, not the bundle.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from cdk.runtime_sources import LAMBDA_SOURCES, RuntimeSources

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PYTHON_VERSION = "3.12"
# manylinux2014 = glibc 2.17; the Python 3.12 runtime (Amazon Linux 2023, glibc 2.34) also runs 2_28 wheels.
LAMBDA_PLATFORMS: tuple[str, ...] = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")


class BundlingError(RuntimeError):
    """The Lambda bundle could not be built (pip failed, or a source package is missing)."""


def runtime_dependencies(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The pinned requirement strings of `[project].dependencies`."""
    with pyproject.open("rb") as handle:
        data = tomllib.load(handle)
    dependencies = data["project"]["dependencies"]
    if not isinstance(dependencies, list) or not all(isinstance(item, str) for item in dependencies):
        raise BundlingError(f"{pyproject}: [project].dependencies must be a list of requirement strings")
    return list(dependencies)


def pip_install_command(target: Path, requirements: Sequence[str]) -> list[str]:
    """pip installing `requirements` as binary wheels for the Lambda platform into `target`."""
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        # Byte code compiled here would be for this interpreter, not the Lambda's: skip it.
        "--no-compile",
        "--target",
        str(target),
        *requirements,
    ]


def bundle_inputs_hash(
    root: Path, requirements: Sequence[str], *, skip_dependencies: bool, sources: RuntimeSources = LAMBDA_SOURCES
) -> str:
    """A digest of everything the bundle is made from; equal digests mean equal bundles."""
    digest = hashlib.sha256()
    digest.update(
        repr(
            (LAMBDA_PYTHON_VERSION, LAMBDA_PLATFORMS, list(requirements), skip_dependencies, sources.packages)
        ).encode()
    )
    for path in sources.files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def build_bundle(
    output_dir: Path,
    *,
    root: Path,
    requirements: Sequence[str],
    skip_dependencies: bool,
    sources: RuntimeSources = LAMBDA_SOURCES,
) -> None:
    """Write the Lambda bundle into `output_dir` (dependencies first, then our packages over them)."""
    if not skip_dependencies and requirements:
        result = subprocess.run(
            pip_install_command(output_dir, requirements), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BundlingError(f"pip install for the Lambda bundle failed:\n{result.stderr.strip()}")
    try:
        sources.copy_to(output_dir, root)
    except FileNotFoundError as exc:
        raise BundlingError(f"missing source package: {exc}") from exc
    # pip leaves console scripts behind; the Lambda never runs them.
    shutil.rmtree(output_dir / "bin", ignore_errors=True)


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    """CDK's hook for bundling without Docker: `try_bundle` builds the bundle and returns True."""

    def __init__(self, *, root: Path, requirements: Sequence[str], skip_dependencies: bool) -> None:
        self._root = root
        self._requirements = list(requirements)
        self._skip_dependencies = skip_dependencies

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: object) -> bool:
        build_bundle(
            Path(output_dir),
            root=self._root,
            requirements=self._requirements,
            skip_dependencies=self._skip_dependencies,
        )
        return True


def lambda_code(*, skip_dependencies: bool = False, root: Path = REPO_ROOT) -> lambda_.Code:
    """The ingest (and any later Python) Lambda's code asset, bundled locally."""
    requirements = runtime_dependencies(root / "pyproject.toml")
    return lambda_.Code.from_asset(
        str(root / "lambdas"),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundle_inputs_hash(root, requirements, skip_dependencies=skip_dependencies),
        bundling=BundlingOptions(
            # Required by the API but never pulled: `local` always succeeds or raises.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=LocalPythonBundling(root=root, requirements=requirements, skip_dependencies=skip_dependencies),
        ),
    )
