"""Deploy-readiness fixtures: the app synthesized ONCE with every optional feature on, as `cdk deploy` would
publish it (the Lambda bundle and the pyarrow layer really built with pip), and the way from a template's S3
key to the artifact the CDK CLI would upload (the asset manifest in cdk.out, never the repository).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grimp
import pytest

from tests.infrastructure.conftest import Synthesized, synthesize

IMPORT_ALL_PROBE = Path(__file__).with_name("import_all_probe.py")

# Every optional feature on: QuickSight live panels, the report mailed to recipients, the alarm e-mail, a
# provisioned stream; and the real Lambda bundling (pip), not the fast source-only mode.
ALL_FEATURES_CONTEXT: Mapping[str, Any] = {
    "skipLambdaDependencies": False,
    "quicksightPrincipalArn": "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst",
    "reportSender": "reports@example.com",
    "reportRecipients": "marketing@example.com,pm@product.example.org",
    "alarmEmail": "ops@example.com",
    "streamMode": "provisioned",
    "shardCount": 2,
    "wafEnabled": True,
}


@dataclass(frozen=True)
class CloudAssembly:
    """The synthesized stack and what the CDK CLI would publish from cdk.out."""

    synthesized: Synthesized

    @property
    def outdir(self) -> Path:
        return self.synthesized.outdir

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.synthesized.template_json["Resources"]
        return found

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def asset(self, object_key: str) -> tuple[Path, str]:
        """The staged source of the file asset published as `object_key`, and its packaging (file or zip)."""
        manifest = json.loads((self.outdir / f"{self.synthesized.stack.stack_name}.assets.json").read_text())
        found = [
            a
            for a in manifest["files"].values()
            if any(d["objectKey"] == object_key for d in a["destinations"].values())
        ]
        assert len(found) == 1, f"no single asset published as {object_key}: {len(found)}"
        source = found[0]["source"]
        path = self.outdir / source["path"]
        assert path.exists(), path
        return path, source["packaging"]

    def zipped(self, object_key: str, target: Path) -> Path:
        """The asset as the CDK CLI uploads it: a directory asset zipped (packaging "zip"), a file as it is."""
        path, packaging = self.asset(object_key)
        if packaging == "file":
            return path
        assert packaging == "zip" and path.is_dir(), (path, packaging)
        archive = target / object_key
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for item in sorted(path.rglob("*")):
                if item.is_file():
                    out.write(item, item.relative_to(path).as_posix())
        return archive


def object_key_of(value: Any) -> str:
    """The S3 object key in a template value: a plain string or Fn::Sub, or the last literal of an Fn::Join."""
    if isinstance(value, str):
        return value.rsplit("/", 1)[-1]
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return str(value["Fn::Sub"]).rsplit("/", 1)[-1]
    if isinstance(value, dict) and "Fn::Join" in value:
        literals = [part for part in value["Fn::Join"][1] if isinstance(part, str)]
        return literals[-1].rsplit("/", 1)[-1]
    raise AssertionError(f"no S3 key in {value!r}")


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    """The app with every optional feature on, synthesized into a temporary cdk.out."""
    return CloudAssembly(synthesize(tmp_path_factory.mktemp("cdk.out.all-features"), ALL_FEATURES_CONTEXT))


def reachable_modules(*entry_points: str) -> set[str]:
    """Every project module the entry points import, directly or not, lazily or not (static import graph)."""
    graph = grimp.build_graph("featurepulse", "lambdas", "glue_jobs", cache_dir=None)
    found: set[str] = set()
    for entry in entry_points:
        found |= {entry, *graph.find_upstream_modules(entry)}
    return {m for m in found if m.split(".")[0] in {"featurepulse", "lambdas"}}


def import_every_module(
    python: Path, root: Path, packages: list[str], *, paths: list[Path], env: Mapping[str, str], tmp: Path
) -> dict[str, str | None]:
    """Import each module of `packages` under `root` in a fresh interpreter of the runtime; module -> error."""
    probe = tmp / "import-all" / IMPORT_ALL_PROBE.name
    probe.parent.mkdir(exist_ok=True)
    shutil.copyfile(IMPORT_ALL_PROBE, probe)
    run = subprocess.run(
        [str(python), str(probe), str(root), ",".join(packages), *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=tmp,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp), **env},
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    results: dict[str, str | None] = json.loads(run.stdout.strip().splitlines()[-1])
    return results
