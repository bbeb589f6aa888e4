"""Deploy readiness of the report job: the script and the code bundle `cdk synth` puts in cdk.out, run the way
Glue 5.0 runs them, under Glue 5.0's Python with only what Glue 5.0 provides plus what the job definition
installs.

- Found through the template: the Glue job's ScriptLocation and `--code_bundle` name S3 keys; the asset
  manifest maps them to the staged files (the bundle is a folder the CDK CLI zips at publish time).
- Runtime: Glue 5.0 runs Python 3.11 ("AWS Glue versions") with the modules of "Python modules already provided
  in AWS Glue" (version 5.0; the ones the shipped code needs are below, at those versions), then pip installs
  `--additional-python-modules` at job start. The venv (pyenv 3.11.7) gets exactly those two steps, cached
  under .build/runtime-venvs/. Binary wheels for x86_64: Glue 5.0 runs on x86_64 (manylinux2014_x86_64 and
  manylinux_2_28/2_34 tags, "Appendix B: AWS Glue environment details"), like this machine.
- Run: the staged script as Glue starts it (`python script.py --JOB_ID ... --<default argument> value ...`) with
  AWS at a moto server: it downloads the bundle from S3, extracts it, runs the report's Athena queries with
  awswrangler (moto answers each query with DuckDB's rows for the same SQL on a demo lake: moto's Athena runs
  no SQL), renders the charts with Glue's matplotlib and mails the report with SESv2.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
from email import policy
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from featurepulse.identity.schema import IDENTITY_PREFIX
from tests.deploy.athena_on_duckdb import AthenaOnDuckDb
from tests.deploy.conftest import CloudAssembly, import_every_module, object_key_of, reachable_modules
from tests.deploy.moto_deployment import ASSETS_BUCKET, FAKE_CREDENTIALS, REGION, MotoDeployment, moto_server
from tests.deploy.runtime_venvs import installed_distributions, pins, runtime_venv
from tests.reporting_dataset import REPORT_DAY, demo_events, write_lake

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

GLUE_PYTHON = "3.11.7"
GLUE_5_GLIBC = (2, 34)  # "Appendix B: AWS Glue environment details": AL2023, glibc 2.34
# Glue 5.0's provided modules (AWS Glue docs, "Python modules already provided in AWS Glue", AWS Glue version
# 5.0) that the report job's code imports, with what they need from the same list.
GLUE_5_PROVIDED: tuple[str, ...] = (
    "boto3==1.34.131",
    "botocore==1.34.131",
    "s3transfer==0.10.2",
    "jmespath==0.10.0",
    "python-dateutil==2.9.0.post0",
    "six==1.16.0",
    "urllib3==1.25.10",
    "pandas==2.2.2",
    "numpy==1.26.4",
    "pytz==2024.1",
    "tzdata==2024.1",
    "pyarrow==17.0.0",
    "packaging==24.1",
    "matplotlib==3.9.0",
    "contourpy==1.2.1",
    "cycler==0.12.1",
    "fonttools==4.53.1",
    "kiwisolver==1.4.5",
    "pillow==10.4.0",
    "pyparsing==3.1.2",
)
# The arguments Glue itself adds to every run.
GLUE_RUN_ARGUMENTS = [
    "--JOB_ID",
    "j_deploy",
    "--JOB_RUN_ID",
    "jr_deploy",
    "--job-bookmark-option",
    "job-bookmark-disable",
]
# Glue job scripts and zips are small; S3 takes 5 GB per object. A bundle of more than a few MB would mean that
# something besides our packages got in (a virtual environment, data).
MAX_BUNDLE_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def job(assembly: CloudAssembly) -> dict[str, Any]:
    found = [b["Properties"] for b in assembly.of_type("AWS::Glue::Job").values() if "--code_bundle" in json_keys(b)]
    assert len(found) == 1, found
    return found[0]


def json_keys(body: dict[str, Any]) -> set[str]:
    return set(body["Properties"].get("DefaultArguments", {}))


def additional_modules(job: dict[str, Any]) -> list[str]:
    value = job["DefaultArguments"]["--additional-python-modules"]
    assert isinstance(value, str), value
    return value.split(",")


@pytest.fixture(scope="module")
def glue_python(job: dict[str, Any]) -> Path:
    """Python 3.11 with Glue 5.0's modules, then the job's `--additional-python-modules` installed over them."""
    return runtime_venv("glue5-report-job", GLUE_PYTHON, [GLUE_5_PROVIDED, additional_modules(job)])


def test_the_job_runs_on_glue_5_with_python_3(job: dict[str, Any]) -> None:
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["Name"] == "glueetl" and job["Command"]["PythonVersion"] == "3"


def test_every_module_the_job_gets_is_glue_5s_own_or_pinned_by_the_job(glue_python: Path, job: dict[str, Any]):
    # Given the venv after Glue's two steps (its modules, then pip with the job's list)
    installed = installed_distributions(glue_python)
    # Then each distribution is at the version Glue provides or the job pins: pip pulled in nothing floating
    # and replaced none of Glue's modules without the job saying so
    expected = {**pins(GLUE_5_PROVIDED), **pins(additional_modules(job))}
    assert installed == expected


def test_every_wheel_installed_is_one_glue_5s_glibc_runs(glue_python: Path) -> None:
    # Given the wheels pip chose on this machine (whose glibc may be newer than Glue's)
    site = next(glue_python.parent.parent.glob("lib/python3.*/site-packages"))
    tags = {line.split(":", 1)[1].strip() for w in site.glob("*.dist-info/WHEEL") for line in w.read_text().splitlines()
            if line.startswith("Tag:")}  # fmt: skip
    # Then each is pure Python or built for glibc 2.34 or older (Glue 5.0: Amazon Linux 2023, glibc 2.34)
    for tag in tags:
        platform = tag.rsplit("-", 1)[1]
        if platform == "any":
            continue
        assert platform.endswith("x86_64"), tag
        glibc = (2, 17) if platform.startswith("manylinux2014") else tuple(map(int, platform.split("_")[1:3]))
        assert glibc <= GLUE_5_GLIBC, tag


def test_the_code_bundle_holds_only_source_and_sql_and_is_small(assembly: CloudAssembly, job: dict[str, Any]):
    folder, packaging = assembly.asset(object_key_of(job["DefaultArguments"]["--code_bundle"]))
    assert packaging == "zip"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".py", ".sql"}, sorted({p.suffix for p in files})
    assert not (folder / "featurepulse" / "local").exists()
    assert sum(p.stat().st_size for p in files) < MAX_BUNDLE_BYTES


def test_every_module_the_bundle_ships_imports_under_glue_5(
    assembly: CloudAssembly, job: dict[str, Any], glue_python: Path, tmp_path: Path
) -> None:
    # Given the bundle's packages, shipped whole
    folder, _ = assembly.asset(object_key_of(job["DefaultArguments"]["--code_bundle"]))
    # When each of their modules is imported under Glue 5.0's Python with only the bundle added
    results = import_every_module(
        glue_python, folder, ["featurepulse"], paths=[folder], env=FAKE_CREDENTIALS, tmp=tmp_path
    )
    # Then every module the job can reach (its static import graph, lazy imports included) is shipped and
    # imports; the others are shipped with their package but the job never imports them (an import contract
    # keeps the job from local mode, the Lambdas' modules and their libraries)
    reachable = reachable_modules("glue_jobs.campaign_report")
    assert "featurepulse.reporting.job" in reachable
    assert reachable <= set(results), sorted(reachable - set(results))
    assert {name: results[name] for name in reachable if results[name]} == {}


def test_the_job_from_cdk_out_mails_the_report_under_glue_5(
    assembly: CloudAssembly, job: dict[str, Any], glue_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = job["DefaultArguments"]
    lake_dir = tmp_path / "lake"
    write_lake(lake_dir, demo_events())
    with moto_server() as endpoint:
        aws = MotoDeployment(assembly.resources, endpoint)
        # Given the artifacts published where the template says (the script runs from its own copy, as Glue does)
        bundle_key = object_key_of(arguments["--code_bundle"])
        aws.client("s3").upload_file(str(assembly.zipped(bundle_key, tmp_path)), ASSETS_BUCKET, bundle_key)
        script_path, packaging = assembly.asset(object_key_of(job["Command"]["ScriptLocation"]))
        assert packaging == "file"
        script = tmp_path / "glue" / "campaign_report.py"
        script.parent.mkdir()
        shutil.copyfile(script_path, script)
        # And the resources the job's arguments name, made in moto from the template
        argv = [*GLUE_RUN_ARGUMENTS]
        for name, value in arguments.items():
            argv += [name, aws.resolve(value)]
        resolved = dict(zip(argv[::2], argv[1::2], strict=True))
        aws.athena_workgroup(resolved["--workgroup"])
        ses = aws.client("ses")
        for identity in [resolved["--sender"], *resolved["--recipients"].split(",")]:
            ses.verify_email_identity(EmailAddress=identity)  # the SES sandbox: every address verified
        engine = AthenaOnDuckDb(
            lake_dir,
            database=resolved["--database"],
            events_table=resolved["--events_table"],
            identities_table=resolved.get("--identities_table", "identities"),
            lake_bucket=resolved.get("--lake_bucket"),
        )
        engine.install(monkeypatch)
        # When Glue runs the job for the report day (a manual run: --date given), with nothing of this repository
        # on the path
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
        run = subprocess.run(
            [str(glue_python), str(script), *argv, "--date", REPORT_DAY.isoformat()],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-6000:]
        # Then the report queries ran on the lake's table through the job's workgroup
        assert engine.queries and all(f'"{resolved["--database"]}"' in sql for sql in engine.queries)
        # And one e-mail went from the sender to the recipients, with the charts matplotlib drew
        (sent,) = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        message = email.message_from_bytes(sent.raw_data.encode(), policy=policy.SMTP)
        assert resolved["--sender"] in str(message["From"])
        assert set(resolved["--recipients"].split(",")) <= set(str(message["To"]).replace(" ", "").split(","))
        images = [part for part in message.walk() if part.get_content_type() == "image/png"]
        assert images and all(part.get_payload(decode=True).startswith(b"\x89PNG") for part in images)
        # And the send record says so
        table = resolved["--send_log_table"]
        items = aws.client("dynamodb").scan(TableName=table)["Items"]
        assert [item["status"]["S"] for item in items] == ["sent"]
        # And the steps the template switches on ran without an error logged: the identity build wrote its
        # table to the lake bucket, the correction of the live day rows ran
        if "--lake_bucket" in resolved:
            listing = aws.client("s3").list_objects_v2(Bucket=resolved["--lake_bucket"], Prefix=IDENTITY_PREFIX)
            assert listing.get("KeyCount", 0) > 0
            # and the audiences went to the lake's audiences/, each linked from the e-mail by a presigned URL
            audiences = aws.client("s3").list_objects_v2(Bucket=resolved["--lake_bucket"], Prefix="audiences/")
            assert audiences.get("KeyCount", 0) > 0
            html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_content()
            assert "X-Amz-Signature=" in html and "audience.csv" in html
        assert " ERROR " not in run.stderr and "Traceback" not in run.stderr, run.stderr[-4000:]
    # And the code that ran can only have come from the bundle: the runtime cannot import featurepulse without it
    probe = subprocess.run([str(glue_python), "-c", "import featurepulse"], cwd=tmp_path, env=env, check=False)
    assert probe.returncode != 0
