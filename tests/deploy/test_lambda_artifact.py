"""Deploy readiness of the ingest, erasure and lake transform Lambdas: the code asset and the pyarrow layer
`cdk synth` puts in cdk.out (found through the functions' S3 keys and the asset manifest), checked for the
platform they deploy to and run under Lambda's Python.

What runs where, honestly:
- The functions are python3.12 on arm64. The bundle (cdk/lambda_bundling.py, cdk/erasure.py) installs manylinux
  aarch64 wheels, which this x86_64 machine cannot load. So the aarch64 set is checked as it ships: every
  compiled extension (ELF) is aarch64, and every dependency of every shipped distribution (markers evaluated
  for CPython 3.12 on Linux aarch64, extras as requested) is in the asset or the layer at a version that
  satisfies it.
- Then the handlers run under Python 3.12 (pyenv 3.12.1): the asset and the layer first on sys.path, as
  /var/task and /opt/python are in Lambda; only the distributions that carry compiled code are replaced by
  the x86_64 wheels of exactly the versions shipped (installed on top, first on the path). Every pure-Python
  module that runs, ours and the libraries', is the asset's own bytes.
- Besides: the Lambda runtime's own boto3 (an older one stands for it: its version varies by region and date)
  is in the interpreter's site-packages, last on the path; the asset ships its pinned boto3, which must win.
- Sizes: Lambda's limit is 250 MB for the function's code and layers, unzipped.
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import json
import os
import shutil
import subprocess
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cdk.erasure import PYARROW_REQUIREMENT
from cdk.lambda_bundling import runtime_dependencies
from featurepulse.constants import ENV_LAKE_BUCKET, ENV_SOURCES_TABLE, ENV_STREAM_NAME
from featurepulse.domain.packing import GZIP_MAGIC, pack_events
from featurepulse.lake.layout import EVENTS_PREFIX
from featurepulse.lake.parquet import parquet_to_table
from featurepulse.lake.store import S3Store
from featurepulse.lake.writer import LakeWriter
from featurepulse.sources import create_source
from tests.deploy.conftest import CloudAssembly, import_every_module, object_key_of, reachable_modules
from tests.deploy.moto_deployment import FAKE_CREDENTIALS, MotoDeployment, moto_server
from tests.deploy.runtime_venvs import CACHE_DIR, COMPLETE, runtime_venv
from tests.integration.ingest_support import load_event, proxy_event
from tests.lake_samples import user_events

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

LAMBDA_PYTHON = "3.12.1"
# Stands for the SDK the python3.12 runtime includes (an older release than the asset's pin on purpose).
RUNTIME_PROVIDED = ("boto3==1.34.145",)
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # Lambda quotas: deployment package (function and layers), unzipped
EM_AARCH64 = 183
LAMBDA_MARKER_ENVIRONMENT = {
    "python_version": "3.12",
    "python_full_version": "3.12.1",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_machine": "aarch64",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
}
PROBE = Path(__file__).with_name("lambda_probe.py")
INGEST = "lambdas.ingest.handler.lambda_handler"
ERASURE = "lambdas.erasure.handler.lambda_handler"
TRANSFORM = "lambdas.lake_transform.handler.lambda_handler"


@pytest.fixture(scope="module")
def functions(assembly: CloudAssembly) -> dict[str, dict[str, Any]]:
    """The Python functions of the stack by handler (CDK's own provider functions are Node.js)."""
    found = {
        body["Properties"]["Handler"]: body["Properties"]
        for body in assembly.of_type("AWS::Lambda::Function").values()
        if str(body["Properties"].get("Runtime", "")).startswith("python")
    }
    assert {INGEST, ERASURE, TRANSFORM} <= set(found), sorted(found)
    return found


def code_dirs(assembly: CloudAssembly, function: dict[str, Any]) -> list[Path]:
    """The function's code, then its layers' `python/` folders: sys.path order in Lambda."""
    code, packaging = assembly.asset(object_key_of(function["Code"]["S3Key"]))
    assert packaging == "zip"
    dirs = [code]
    for layer in function.get("Layers", []):
        (logical_id,) = layer.values()
        content = assembly.resources[logical_id]["Properties"]["Content"]
        folder, packaging = assembly.asset(object_key_of(content["S3Key"]))
        assert packaging == "zip" and (folder / "python").is_dir(), folder
        dirs.append(folder / "python")
    return dirs


def distributions(dirs: list[Path]) -> dict[str, tuple[str, Path]]:
    """Canonical name -> (version, dist-info folder) of every distribution installed in these folders."""
    found: dict[str, tuple[str, Path]] = {}
    for folder in dirs:
        for info in folder.glob("*.dist-info"):
            metadata = email.parser.Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
            found.setdefault(canonicalize_name(metadata["Name"]), (metadata["Version"], info))
    return found


def compiled_distributions(dirs: list[Path]) -> dict[str, str]:
    """The distributions that ship compiled extensions (their RECORD lists a shared object), name -> version."""
    binary: dict[str, str] = {}
    for name, (version, info) in distributions(dirs).items():
        record = (info / "RECORD").read_text(encoding="utf-8")
        if any(".so" in line.split(",", 1)[0].rsplit("/", 1)[-1] for line in record.splitlines()):
            binary[name] = version
    return binary


def elf_machine(path: Path) -> int | None:
    head = path.read_bytes()[:20]
    if not head.startswith(b"\x7fELF"):
        return None
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


def test_every_python_function_is_python_3_12_on_arm64(functions: dict[str, dict[str, Any]]) -> None:
    for handler, props in functions.items():
        assert props["Runtime"] == "python3.12", handler
        assert props["Architectures"] == ["arm64"], handler


def test_code_and_layers_fit_lambdas_unzipped_limit(assembly: CloudAssembly, functions: dict[str, dict[str, Any]]):
    for handler, props in functions.items():
        size = sum(p.stat().st_size for folder in code_dirs(assembly, props) for p in folder.rglob("*") if p.is_file())
        assert size < UNZIPPED_LIMIT_BYTES, f"{handler}: {size / 2**20:.0f} MiB unzipped"


def test_the_asset_ships_no_local_mode(assembly: CloudAssembly, functions: dict[str, dict[str, Any]]) -> None:
    code = code_dirs(assembly, functions[INGEST])[0]
    assert (code / "featurepulse" / "ingest").is_dir() and (code / "lambdas" / "erasure").is_dir()
    assert not (code / "featurepulse" / "local").exists()
    shipped = distributions([code])
    assert not {"moto", "duckdb", "awswrangler", "pandas", "matplotlib", "sqlglot"} & set(shipped)


def test_every_compiled_extension_is_for_linux_aarch64(assembly: CloudAssembly, functions: dict[str, dict[str, Any]]):
    for handler, props in functions.items():
        shared = [p for folder in code_dirs(assembly, props) for p in folder.rglob("*.so*") if p.is_file()]
        assert shared, handler
        machines = {p.name: elf_machine(p) for p in shared if elf_machine(p) is not None}
        assert machines and set(machines.values()) == {EM_AARCH64}, {n: m for n, m in machines.items() if m != 183}


def test_every_dependency_of_what_ships_ships_too(assembly: CloudAssembly, functions: dict[str, dict[str, Any]]):
    for handler, props in functions.items():
        dirs = code_dirs(assembly, props)
        installed = distributions(dirs)
        roots = [*runtime_dependencies(), *([PYARROW_REQUIREMENT] if len(dirs) > 1 else [])]
        queue = deque(Requirement(text) for text in roots)
        seen: set[tuple[str, frozenset[str]]] = set()
        missing: list[str] = []
        while queue:
            requirement = queue.popleft()
            name = canonicalize_name(requirement.name)
            key = (name, frozenset(requirement.extras))
            if key in seen:
                continue
            seen.add(key)
            if name not in installed or not requirement.specifier.contains(installed[name][0], prereleases=True):
                missing.append(f"{requirement} (shipped: {installed.get(name, ('none',))[0]})")
                continue
            metadata = email.parser.Parser().parsestr((installed[name][1] / "METADATA").read_text(encoding="utf-8"))
            for text in metadata.get_all("Requires-Dist") or []:
                dependency = Requirement(text)
                if dependency.marker is None or any(
                    dependency.marker.evaluate({**LAMBDA_MARKER_ENVIRONMENT, "extra": extra})
                    for extra in ["", *sorted(requirement.extras)]
                ):
                    queue.append(dependency)
        assert missing == [], f"{handler}: {missing}"
    assert Marker("platform_machine == 'aarch64'").evaluate(LAMBDA_MARKER_ENVIRONMENT)


@pytest.fixture(scope="module")
def lambda_python() -> Path:
    return runtime_venv("lambda-python3.12", LAMBDA_PYTHON, [RUNTIME_PROVIDED])


def x86_overlay(lambda_python: Path, binary: dict[str, str]) -> Path:
    """The x86_64 wheels of exactly the shipped versions of the compiled distributions (cached)."""
    pins = sorted(f"{name}=={version}" for name, version in binary.items())
    target = CACHE_DIR / f"lambda-x86-overlay-{hashlib.sha256(repr(pins).encode()).hexdigest()[:16]}"
    if not (target / COMPLETE).is_file():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                *(str(lambda_python), "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:"),
                *("--disable-pip-version-check", "--target", str(target), *pins),
            ],
            check=True,
            capture_output=True,
        )
        (target / COMPLETE).write_text("\n".join(pins) + "\n", encoding="utf-8")
    return target


def invoke(
    lambda_python: Path, handler: str, event: dict[str, Any], *, paths: list[Path], env: dict[str, str], tmp: Path
) -> dict[str, Any]:
    """Run the probe in a fresh interpreter from an empty folder (nothing of this checkout importable)."""
    event_file = tmp / "event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    probe = tmp / "probe" / PROBE.name
    probe.parent.mkdir(exist_ok=True)
    shutil.copyfile(PROBE, probe)
    run = subprocess.run(
        [str(lambda_python), str(probe), handler, str(event_file), *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=tmp,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp), **FAKE_CREDENTIALS, **env},
        check=False,
    )
    assert run.returncode == 0, run.stderr[-6000:]
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def function_environment(aws: MotoDeployment, props: dict[str, Any]) -> dict[str, str]:
    variables = props.get("Environment", {}).get("Variables", {})
    return {name: aws.resolve(value) for name, value in variables.items()}


def assert_from(origins: dict[str, str], module: str, folder: Path) -> None:
    assert origins[module].startswith(str(folder)), (module, origins[module], folder)


def test_every_module_the_asset_ships_imports_under_python_3_12(
    assembly: CloudAssembly, functions: dict[str, dict[str, Any]], lambda_python: Path, tmp_path: Path
) -> None:
    # Given the asset and the layer, as the erasure function sees them (the ingest function has no layer)
    dirs = code_dirs(assembly, functions[ERASURE])
    overlay = x86_overlay(lambda_python, compiled_distributions(dirs))
    # When each module of our packages is imported under Python 3.12
    results = import_every_module(
        lambda_python, dirs[0], ["featurepulse", "lambdas"], paths=[overlay, *dirs], env=FAKE_CREDENTIALS, tmp=tmp_path
    )
    # Then every module the handlers can reach (static import graph, lazy imports included) is shipped and
    # imports; the others are shipped with their package but never imported (import contracts)
    reachable = reachable_modules("lambdas.ingest.handler", "lambdas.erasure.handler", "lambdas.lake_transform.handler")
    assert reachable <= set(results), sorted(reachable - set(results))
    assert {name: results[name] for name in reachable if results[name]} == {}


def test_the_ingest_handler_from_cdk_out_puts_a_batch_on_the_stream_under_python_3_12(
    assembly: CloudAssembly, functions: dict[str, dict[str, Any]], lambda_python: Path, tmp_path: Path
) -> None:
    props = functions[INGEST]
    dirs = code_dirs(assembly, props)
    overlay = x86_overlay(lambda_python, compiled_distributions(dirs))
    with moto_server() as endpoint:
        aws = MotoDeployment(assembly.resources, endpoint)
        env = {**function_environment(aws, props), "AWS_ENDPOINT_URL": endpoint}
        # Given an active source in the sources table the function is configured with
        source = create_source(env[ENV_SOURCES_TABLE], "deploy probe", dynamodb_client=aws.client("dynamodb"))
        # When API Gateway hands it the sample batch (tests/events/segment_batch_mixed.json)
        event = proxy_event("/v1/batch", body=load_event("segment_batch_mixed.json"), write_key=source.write_key)
        result = invoke(lambda_python, INGEST, event, paths=[overlay, *dirs], env=env, tmp=tmp_path)
        # Then it answers 200 with the valid events accepted, and they are on the stream
        response = result["response"]
        assert response["statusCode"] == 200, response
        assert json.loads(response["body"])["accepted"] == 4
        stream = env[ENV_STREAM_NAME]
        kinesis = aws.client("kinesis")
        records = 0
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records += len(kinesis.get_records(ShardIterator=iterator)["Records"])
        assert records >= 1
    # And it ran on Python 3.12, our code and boto3 from the asset, compiled parts from the x86 twins
    assert result["python"] == [3, 12]
    for module in ("featurepulse", "lambdas", "boto3", "botocore", "pydantic"):
        assert_from(result["origins"], module, dirs[0])
    assert_from(result["origins"], "pydantic_core", overlay)


def test_the_lake_transform_handler_from_cdk_out_unpacks_and_partitions_records_under_python_3_12(
    assembly: CloudAssembly, functions: dict[str, dict[str, Any]], lambda_python: Path, tmp_path: Path
) -> None:
    props = functions[TRANSFORM]
    dirs = code_dirs(assembly, props)
    overlay = x86_overlay(lambda_python, compiled_distributions(dirs))
    # Given a Firehose transformation event (tests/events/firehose_kinesis_transformation.json) holding a gzip
    # record packed as ingest packs it, a plain record written before compression, and an unreadable one
    events = user_events("u-alice", "a-alice", datetime(2026, 11, 20, 8, 5, tzinfo=UTC), 8, timedelta(minutes=1))
    (packed,) = pack_events((e["user_id"], e["event_id"], orjson.dumps(e)) for e in events)
    assert packed.data.startswith(GZIP_MAGIC)
    plain = orjson.dumps(events[0]) + b"\n"
    event = load_event("firehose_kinesis_transformation.json")
    template = event["records"][0]
    event["records"] = [
        {**template, "recordId": f"r{i}", "data": base64.b64encode(data).decode()}
        for i, data in enumerate([packed.data, plain, b"\x1f\x8bgarbage"])
    ]
    # When Firehose invokes the function from cdk.out with its configured environment
    env = {name: str(value) for name, value in props.get("Environment", {}).get("Variables", {}).items()}
    result = invoke(lambda_python, TRANSFORM, event, paths=[overlay, *dirs], env=env, tmp=tmp_path)
    # Then the two readable records are Ok with their events and partition keys, the garbage ProcessingFailed
    records = result["response"]["records"]
    assert [(r["recordId"], r["result"]) for r in records] == [("r0", "Ok"), ("r1", "Ok"), ("r2", "ProcessingFailed")]
    assert records[0]["metadata"] == {"partitionKeys": {"dt": "2026-11-20", "hr": "08"}}
    delivered = [orjson.loads(line) for line in base64.b64decode(records[0]["data"]).splitlines()]
    assert delivered == events
    # And it ran on Python 3.12, our code from the asset, compiled parts from the x86 twins
    assert result["python"] == [3, 12]
    assert_from(result["origins"], "featurepulse", dirs[0])
    assert_from(result["origins"], "orjson", overlay)


def test_the_erasure_handler_from_cdk_out_erases_a_user_under_python_3_12(
    assembly: CloudAssembly, functions: dict[str, dict[str, Any]], lambda_python: Path, tmp_path: Path
) -> None:
    props = functions[ERASURE]
    dirs = code_dirs(assembly, props)
    overlay = x86_overlay(lambda_python, compiled_distributions(dirs))
    with moto_server() as endpoint:
        aws = MotoDeployment(assembly.resources, endpoint)
        env = {**function_environment(aws, props), "AWS_ENDPOINT_URL": endpoint}
        # Given a lake with two users' events
        store = S3Store(aws.client("s3"), env[ENV_LAKE_BUCKET])
        writer = LakeWriter([store])
        start = datetime(2026, 11, 20, 8, tzinfo=UTC)
        for user in ("u-alice", "u-bob"):
            writer.add_rows(user_events(user, f"a-{user}", start, 3, timedelta(hours=1)))
        writer.flush()
        # When SQS hands it the sample erasure request (tests/events/sqs_erasure_request.json: u-alice)
        event = load_event("sqs_erasure_request.json")
        result = invoke(lambda_python, ERASURE, event, paths=[overlay, *dirs], env=env, tmp=tmp_path)
        # Then no message failed and only u-bob's events are left
        assert result["response"] == {"batchItemFailures": []}
        rows = [r for k in store.list_keys(EVENTS_PREFIX) for r in parquet_to_table(store.get(k)).to_pylist()]
        assert {r["user_id"] for r in rows} == {"u-bob"}
    # And pyarrow came from the layer's version (its x86 twin), our code from the asset
    assert_from(result["origins"], "pyarrow", overlay)
    assert_from(result["origins"], "featurepulse", dirs[0])
