"""The Flink application package (cdk/realtime.py): flink/app/ ships whole, plus exactly the project modules it
imports, found by reading imports (no hand-kept list). Runs on a small tree made in the test."""

from __future__ import annotations

from pathlib import Path

from cdk.realtime import APP_DIR, application_files, application_hash, shipped_project_modules


def _write(root: Path, relative: str, text: str = "") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _tree(root: Path) -> None:
    main = "from featurepulse_flink.job import build\nfrom featurepulse.realtime import sql\n"
    _write(root, "flink/app/main.py", main)
    _write(root, "flink/app/python/featurepulse_flink/__init__.py")
    job = "import json\nfrom featurepulse.realtime.items import X\n"
    _write(root, "flink/app/python/featurepulse_flink/job.py", job)
    _write(root, "flink/app/python/featurepulse_flink/__pycache__/job.cpython-311.pyc", "bytecode")
    _write(root, "flink/app/lib/connectors.jar", "jar")
    _write(root, "featurepulse/__init__.py")
    _write(root, "featurepulse/realtime/__init__.py")
    _write(root, "featurepulse/realtime/sql.py", "from featurepulse.realtime.settings import S\n")
    _write(root, "featurepulse/realtime/settings.py", "import dataclasses\n")
    _write(root, "featurepulse/realtime/items.py", "from featurepulse.domain import ids\n")
    _write(root, "featurepulse/domain/__init__.py")
    _write(root, "featurepulse/domain/ids.py")
    _write(root, "featurepulse/realtime/dal.py", "import boto3\n")  # the main runtime's, never imported by the job
    _write(root, "flink/local/featurepulse_flink_local/job.py", "import boto3\n")


def test_the_project_modules_shipped_are_the_import_closure_of_the_application(tmp_path: Path):
    # Given an application that imports sql (which imports settings) and items (which imports a domain module)
    _tree(tmp_path)
    # When the shipped project modules are computed
    shipped = [p.as_posix() for p in shipped_project_modules(tmp_path)]
    # Then they are those modules, transitively, with their packages' __init__, and nothing else
    assert shipped == [
        "featurepulse/__init__.py",
        "featurepulse/domain/__init__.py",
        "featurepulse/domain/ids.py",
        "featurepulse/realtime/__init__.py",
        "featurepulse/realtime/items.py",
        "featurepulse/realtime/settings.py",
        "featurepulse/realtime/sql.py",
    ]


def test_the_zip_is_flink_app_whole_plus_the_shipped_modules_under_python(tmp_path: Path):
    _tree(tmp_path)
    targets = sorted(target for _, target in application_files(tmp_path))
    app = [t for t in targets if not t.startswith(f"{APP_DIR}/python/featurepulse/")]
    # flink/app/ copied as it is (bytecode left out), the local runner and the main runtime's modules never
    assert app == [
        f"{APP_DIR}/lib/connectors.jar",
        f"{APP_DIR}/main.py",
        f"{APP_DIR}/python/featurepulse_flink/__init__.py",
        f"{APP_DIR}/python/featurepulse_flink/job.py",
    ]
    assert f"{APP_DIR}/python/featurepulse/realtime/sql.py" in targets
    assert not [t for t in targets if "dal.py" in t or "featurepulse_flink_local" in t]


def test_the_asset_hash_changes_with_any_shipped_file_and_only_with_them(tmp_path: Path):
    _tree(tmp_path)
    before = application_hash(tmp_path)
    # a module the job does not import changes: same package, same hash
    _write(tmp_path, "featurepulse/realtime/dal.py", "import boto3  # changed\n")
    assert application_hash(tmp_path) == before
    # a shipped module changes: a new package
    _write(tmp_path, "featurepulse/realtime/settings.py", "import dataclasses  # changed\n")
    assert application_hash(tmp_path) != before
