"""Deploy readiness of the Flink application: the zip `cdk synth` stages in cdk.out, checked against what Managed
Service for Apache Flink documents for PyFlink applications, then run under the runtime's Python.

- Found through the template: the application's ApplicationCodeConfiguration names the S3 key; the asset
  manifest maps it to the staged folder, which the CDK CLI zips as it is at publish time (packaging "zip").
- Layout ("Create your Managed Service for Apache Flink Python application"): the property group
  `kinesis.analytics.flink.run.options` with `python` (the main file), `jarfile` (the connector jar, under
  lib/) and `pyFiles`; no `pyModule`, `pyExecutable` or `pyRequirements` (unsupported: nothing is pip-installed,
  everything must be in the zip). Size under the 512 MB Managed Flink takes for application code.
- Run: Managed Flink 1.20 runs Python 3.11 with PyFlink 1.20 (.venv-flink). With PYTHONPATH pointing only at the
  extracted zip, the entry point reads the runtime properties (as Managed Flink writes them, from the synthesized
  property groups) and builds its plan; the shipped aggregation then runs on a bounded filesystem source (the
  Kinesis and DynamoDB connectors are jars fetched at deploy, never here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cdk.realtime import APP_DIR, RUN_OPTIONS_GROUP, merged_jar_name
from featurepulse.domain.packing import pack_events
from featurepulse.realtime.local import flink_python
from featurepulse.realtime.settings import PROPERTY_GROUP
from featurepulse.realtime.sql import RECORD_CHARSET
from tests import realtime_scenario
from tests.deploy.conftest import CloudAssembly
from tests.infrastructure.conftest import Synthesized

pytestmark = [pytest.mark.deploy, pytest.mark.flink, pytest.mark.slow]

PROBE = Path(__file__).with_name("flink_artifact_probe.py")
APPLICATION_TYPE = "AWS::KinesisAnalyticsV2::Application"
# Managed Flink's limit on the application code it downloads (docs: "Maintain best practices...": 512 MB).
MAX_CODE_BYTES = 512 * 1024 * 1024
RUNTIME_PYTHON = (3, 11)  # Managed Service for Apache Flink 1.20 (PyFlink) runs Python 3.11
UNSUPPORTED_RUN_OPTIONS = {"pyModule", "pyExecutable", "pyRequirements"}
TABLE_FACTORIES = "META-INF/services/org.apache.flink.table.factories.Factory"
# The uids of the operators holding state (job.py generates them; see docs/realtime.md, "Upgrading the Flink
# application safely"). A change that moves one of them cannot restore the running job's snapshot: deploy it
# as the doc says (stop, deploy, start without the snapshot), then update this list.
STATEFUL_UIDS = [
    "101_sink",
    "101_upsert-materialize",
    "1_source",
    "65_group-window-aggregate",
    "77_group-window-aggregate",
    "7_deduplicate",
    "97_group-aggregate",
]


@pytest.fixture(scope="module")
def synthesized(assembly: CloudAssembly) -> Synthesized:
    """The stack with every optional feature on (tests/deploy/conftest.py): the application must deploy there too."""
    return assembly.synthesized


@pytest.fixture(scope="module")
def application(synthesized: Synthesized) -> dict[str, Any]:
    (body,) = [b for b in synthesized.template_json["Resources"].values() if b["Type"] == APPLICATION_TYPE]
    props: dict[str, Any] = body["Properties"]
    return props


def _run_options(application: dict[str, Any]) -> dict[str, Any]:
    groups = application["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]
    return {g["PropertyGroupId"]: g["PropertyMap"] for g in groups}


@pytest.fixture(scope="module")
def artifact(assembly: CloudAssembly, application: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The application zip as the CDK CLI publishes it from cdk.out (found via the template's S3 key)."""
    code = application["ApplicationConfiguration"]["ApplicationCodeConfiguration"]
    assert code["CodeContentType"] == "ZIPFILE"
    file_key: str = code["CodeContent"]["S3ContentLocation"]["FileKey"]
    staged, packaging = assembly.asset(file_key)
    assert packaging == "zip" and staged.is_dir(), (staged, packaging)
    return assembly.zipped(file_key, tmp_path_factory.mktemp("artifact"))


@pytest.fixture(scope="module")
def extracted(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("extracted")
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(target)
    return target


def test_the_zip_has_the_layout_managed_flink_documents_for_pyflink(artifact: Path, application: dict[str, Any]):
    # Given the run options of the synthesized application and the zip's entries
    options = _run_options(application)[RUN_OPTIONS_GROUP]
    with zipfile.ZipFile(artifact) as archive:
        names = set(archive.namelist())
    # Then only the documented file types are used, and `python` names the main file inside the zip
    assert set(options) == {"python", "jarfile", "pyFiles"} and not UNSUPPORTED_RUN_OPTIONS & set(options)
    assert options["python"] == f"{APP_DIR}/main.py" and options["python"] in names
    # And `pyFiles` is the folder holding the packages the job imports
    packages = {n.split("/")[2] for n in names if n.startswith(options["pyFiles"] + "/")}
    assert {"featurepulse", "featurepulse_flink"} <= packages
    # And `jarfile` is the merged connector jar in lib/ (fetched by `make flink-connectors` before a deploy)
    assert options["jarfile"] == f"{APP_DIR}/lib/{merged_jar_name()}"
    # And every entry sits in the one top folder, with no bytecode or local-only code
    assert all(n.startswith(f"{APP_DIR}/") for n in names)
    assert not [n for n in names if n.endswith(".pyc") or "featurepulse_flink_local" in n]


def test_the_zip_fits_the_managed_flink_code_size_limit(artifact: Path):
    assert 0 < artifact.stat().st_size < MAX_CODE_BYTES


def test_the_connector_jar_when_fetched_registers_both_table_factories(artifact: Path, application: dict[str, Any]):
    # The jar is fetched before a deploy only; when it is in the zip, it must serve `kinesis` and `dynamodb`
    jarfile = _run_options(application)[RUN_OPTIONS_GROUP]["jarfile"]
    with zipfile.ZipFile(artifact) as archive:
        if jarfile not in archive.namelist():
            pytest.skip(f"{jarfile} not fetched (make flink-connectors); synth warned about it")
        with archive.open(jarfile) as raw, zipfile.ZipFile(raw) as jar:
            factories = jar.read(TABLE_FACTORIES).decode()
    assert "KinesisDynamicTableFactory" in factories
    assert "DynamoDbDynamicSinkFactory" in factories


@pytest.fixture(scope="module")
def probe(extracted: Path, application: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The probe's findings: the entry point's plan and uids, and one bounded run of the shipped aggregation."""
    python = flink_python()
    if not python.exists():
        pytest.skip("no .venv-flink (make setup builds it)")
    work = tmp_path_factory.mktemp("probe")
    # The runtime properties file as Managed Flink writes it (/etc/flink/application_properties.json), from the
    # synthesized groups; CloudFormation references become stand-in strings.
    groups = application["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]
    properties = [
        {
            "PropertyGroupId": g["PropertyGroupId"],
            "PropertyMap": {k: v if isinstance(v, str) else f"resolved-{k}" for k, v in g["PropertyMap"].items()},
        }
        for g in groups
    ]
    (work / "application_properties.json").write_text(json.dumps(properties))
    # The scenario's events, packed as the ingest API packs them, in one spool file (one stream record a line)
    spool = work / "spool"
    spool.mkdir()
    events = [e for phase in realtime_scenario.raw_phases() for e in phase]
    records = pack_events((e["user_id"] or e["anonymous_id"], e["event_id"], json.dumps(e).encode()) for e in events)
    # Each record's bytes as the Kinesis source hands them to the job (raw format, ISO-8859-1: one char per byte)
    lines = (json.dumps({"data": r.data.decode(RECORD_CHARSET)}) + "\n" for r in records)
    (spool / "records.json").write_text("".join(lines))
    shutil.copy(PROBE, work / PROBE.name)
    app_dir = extracted / APP_DIR
    # Only the extracted zip: no repository, no PYTHONPATH from this process
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(app_dir), str(app_dir / "python")])
    result = subprocess.run(
        [str(python), "-s", str(work / PROBE.name), str(work / "application_properties.json"), str(spool)],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_the_entry_point_runs_from_the_zip_under_the_runtime_python(probe: dict[str, Any], extracted: Path):
    # The runtime's Python, and every project module loaded from the extracted zip (not from the repository)
    assert tuple(probe["python"]) == RUNTIME_PYTHON
    for module in ("featurepulse", "featurepulse_flink"):
        assert Path(probe[module]).resolve().is_relative_to(extracted.resolve()), probe[module]
    assert sys.version_info >= (3, 11)


def test_the_entry_point_plans_the_aggregation_into_the_upsert_sink(probe: dict[str, Any]):
    plan = probe["plan"][probe["plan"].index("== Optimized Execution Plan ==") :]
    assert plan.count("GroupWindowAggregate(") == 2
    assert "fp_build_item(" in plan and "fp_build_late_item(" in plan
    assert "Sink(table=[default_catalog.default_database.aggregates]" in plan


def test_every_stateful_operator_has_the_pinned_stable_uid(probe: dict[str, Any]):
    # Then the snapshot of the running job maps onto this one operator by operator (docs/realtime.md)
    assert probe["stateful_uids"] == STATEFUL_UIDS, (
        "The uids of the stateful operators moved: this version cannot restore the running job's snapshot. "
        "Deploy it as docs/realtime.md ('Upgrading the Flink application safely') says, then update STATEFUL_UIDS "
        f"to {probe['stateful_uids']}."
    )


def test_the_shipped_aggregation_runs_and_emits_items(probe: dict[str, Any]):
    keys = set(probe["item_keys"])
    # the scenario's checkout minute row and a checkout day row, built by the shipped Python workers
    assert "F#checkout|M#2025-03-01T09:00" in keys
    assert any(k.startswith("F#checkout|D#") for k in keys)


def test_custom_counters_sit_directly_in_the_kinesisanalytics_group(probe: dict[str, Any]):
    # Given the job's custom metrics as Flink registered them: <subtask>.<operator>.<user scope>.<name>
    ids = probe["custom_metric_ids"]
    # Then the user scope is the `kinesisanalytics` group alone: Managed Flink publishes them with the dimension
    # Application only (at the APPLICATION level), which is what the alarms select (cdk/realtime.py)
    assert any(i.endswith(".kinesisanalytics.eventsUnpacked") for i in ids), ids
    pattern = re.compile(r"^\d+\.[^.]+\.kinesisanalytics\.(eventsUnpacked|lateEvents|unreadableEvents)$")
    assert all(pattern.match(i) for i in ids), ids


def test_the_job_properties_group_reaches_the_entry_point(application: dict[str, Any]):
    # The group the entry point reads is in the template (else main.read_properties exits before planning)
    assert PROPERTY_GROUP in _run_options(application)
