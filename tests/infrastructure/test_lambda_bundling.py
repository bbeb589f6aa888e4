"""The Lambda bundle is built on this machine (no Docker) for arm64 / CPython 3.12, from pyproject's pins."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdk.lambda_bundling import (
    LAMBDA_PLATFORMS,
    BundlingError,
    build_bundle,
    bundle_inputs_hash,
    pip_install_command,
    runtime_dependencies,
)
from cdk.runtime_sources import LAMBDA_SOURCES
from tests.infrastructure.conftest import REPO_ROOT, Synthesized


def _requirement_name(requirement: str) -> str:
    return requirement.split("==", maxsplit=1)[0].split("[", maxsplit=1)[0].strip().lower().replace("-", "_")


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real bundling, pip step included, run once (pip's cache makes repeats fast)."""
    output = tmp_path_factory.mktemp("bundle")
    build_bundle(output, root=REPO_ROOT, requirements=runtime_dependencies(), skip_dependencies=False)
    return output


def test_runtime_dependencies_come_pinned_from_pyproject() -> None:
    # Given pyproject.toml / When the bundler reads it / Then it gets the pinned [project].dependencies
    requirements = runtime_dependencies()
    assert requirements
    assert all("==" in requirement for requirement in requirements)
    assert {"pydantic", "aws_lambda_powertools", "orjson"} <= {_requirement_name(r) for r in requirements}


def test_pip_installs_binary_wheels_for_the_lambda_platform(tmp_path: Path) -> None:
    command = pip_install_command(tmp_path, ["orjson==3.13.0"])
    assert command[-1] == "orjson==3.13.0"
    assert "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert "manylinux2014_aarch64" in LAMBDA_PLATFORMS
    assert all(platform in command for platform in LAMBDA_PLATFORMS)
    assert command[command.index("--target") + 1] == str(tmp_path)


def test_real_bundle_holds_our_packages_and_arm64_cp312_wheels(real_bundle: Path) -> None:
    # And every pinned dependency is installed at its pinned version
    installed = {path.name.lower() for path in real_bundle.glob("*.dist-info")}
    for requirement in runtime_dependencies():
        name, version = _requirement_name(requirement), requirement.split("==")[1]
        assert f"{name}-{version}.dist-info" in installed, requirement
    # And compiled extensions are for the Lambda (aarch64, CPython 3.12), not for this machine
    extensions = list(real_bundle.rglob("*.so"))
    assert any(path.name.startswith("_pydantic_core.") for path in extensions)
    assert extensions
    assert all("cpython-312-aarch64-linux-gnu" in path.name or "abi3" in path.name for path in extensions)
    # And the handler module and our packages are at the bundle's root (handler lambdas.ingest.handler)
    assert (real_bundle / "featurepulse" / "domain" / "schema.py").is_file()
    assert (real_bundle / "lambdas" / "ingest" / "handler.py").is_file()


def test_real_bundle_leaves_out_caches_tests_and_scripts(real_bundle: Path) -> None:
    assert not list(real_bundle.rglob("__pycache__"))
    assert not list(real_bundle.rglob("*.pyc"))
    assert not (real_bundle / "bin").exists()
    assert not (real_bundle / "tests").exists()
    assert not (real_bundle / "cdk").exists()


def test_source_only_bundle_skips_pip(tmp_path: Path) -> None:
    # Given the fast mode used by the shared test synth / Then only our packages are copied
    build_bundle(tmp_path, root=REPO_ROOT, requirements=runtime_dependencies(), skip_dependencies=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["featurepulse", "lambdas"]


def test_the_bundle_ships_its_packages_whole_and_never_local_mode(tmp_path: Path) -> None:
    # Given the source-only bundle
    build_bundle(tmp_path, root=REPO_ROOT, requirements=runtime_dependencies(), skip_dependencies=True)
    # Then each package of the Lambda's runtime is there with every module, none picked out
    for folder in LAMBDA_SOURCES.packages:
        shipped = {p.relative_to(tmp_path) for p in (tmp_path / folder).rglob("*.py")}
        in_repo = {p.relative_to(REPO_ROOT) for p in (REPO_ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts}
        assert shipped == in_repo, folder
    # And local mode (moto, the local endpoint, DuckDB) and the report job's packages are not
    assert not (tmp_path / "featurepulse" / "local").exists()
    assert not (tmp_path / "featurepulse" / "reporting").exists()


def test_failed_pip_install_raises_with_pip_message(tmp_path: Path) -> None:
    # Given a requirement that has no wheel / When bundling / Then the error carries pip's explanation
    with pytest.raises(BundlingError, match="pip install for the Lambda bundle failed"):
        build_bundle(
            tmp_path,
            root=REPO_ROOT,
            requirements=["featurepulse-no-such-package-xyz==0.0.1"],
            skip_dependencies=False,
        )


def _copy_sources(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for package in ("featurepulse", "lambdas"):  # more than the bundle takes: the hash follows only what ships
        shutil.copytree(REPO_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_asset_hash_follows_sources_and_pins_but_not_caches(tmp_path: Path) -> None:
    # Given a copy of the sources and its hash
    root = _copy_sources(tmp_path)
    requirements = runtime_dependencies()
    before = bundle_inputs_hash(root, requirements, skip_dependencies=False)
    # When a cache file appears / Then the hash stays (CDK reuses the bundle)
    (root / "featurepulse" / "__pycache__").mkdir(exist_ok=True)
    (root / "featurepulse" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"cache")
    assert bundle_inputs_hash(root, requirements, skip_dependencies=False) == before
    # When a source, a pin or the mode changes / Then the hash changes (CDK bundles again)
    assert bundle_inputs_hash(root, [*requirements, "six==1.17.0"], skip_dependencies=False) != before
    assert bundle_inputs_hash(root, requirements, skip_dependencies=True) != before
    # When a module outside the Lambda's packages changes / Then the hash stays
    (root / "featurepulse" / "local" / "cli.py").write_text("# changed\n", encoding="utf-8")
    assert bundle_inputs_hash(root, requirements, skip_dependencies=False) == before
    (root / "lambdas" / "ingest" / "__init__.py").write_text("# changed\n", encoding="utf-8")
    assert bundle_inputs_hash(root, requirements, skip_dependencies=False) != before


def test_stack_packages_the_locally_bundled_asset(synthesized: Synthesized) -> None:
    # Given the session synth (source-only mode) and the ingest function's code object
    (function,) = [
        body
        for body in synthesized.resources("AWS::Lambda::Function").values()
        if body["Properties"].get("Handler") == "lambdas.ingest.handler.lambda_handler"
    ]
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    # Then CDK staged the directory our local bundler built (there is no Docker here to fall back on)
    staged = synthesized.outdir / f"asset.{asset_hash}"
    assert (staged / "lambdas" / "ingest").is_dir()
    assert (staged / "featurepulse" / "domain").is_dir()
    assert not (staged / "tests").exists()
