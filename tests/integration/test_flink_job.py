"""The real PyFlink job in the local mini-cluster, writing to moto DynamoDB (a separate process, so moto runs
as a server): the scenario's items match the reference model after every phase, a replay changes nothing, and
a new job replaying the same input from scratch (a restart without state) writes identical items.

One mini-cluster start per job (about 10-30 s each on a busy machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from featurepulse.domain.packing import pack_events
from featurepulse.realtime.dal import create_aggregates_table, from_dynamodb
from featurepulse.realtime.events import engagement_from_enriched
from featurepulse.realtime.local import FLINK_PYTHONPATH, REPO_ROOT, SpoolWriter, flink_python
from featurepulse.realtime.model import reference_items
from tests import realtime_scenario

pytestmark = [pytest.mark.flink, pytest.mark.slow]

TABLE = "aggregates-test"
# How long a phase may take to converge before the test gives up: a ceiling for a loaded CI machine, never the
# expected time (each phase returns as soon as the table equals the model).
PHASE_TIMEOUT_S = 300.0
Items = dict[tuple[str, str], dict[str, Any]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def dynamodb(moto_endpoint: str) -> Iterator[Any]:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    # moto's backends belong to the process, not to one server: another module's table would still be there
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=TABLE)
    create_aggregates_table(client, TABLE)
    yield client
    client.delete_table(TableName=TABLE)


class Job:
    """One run of `featurepulse_flink_local.job` (its own mini-cluster) reading a spool directory."""

    def __init__(self, workdir: Path, endpoint: str) -> None:
        self.spool = SpoolWriter(workdir / "spool")
        self.spool.directory.mkdir(parents=True)
        ready = workdir / "ready"
        properties = realtime_scenario.load()["properties"]
        command = [str(flink_python()), "-m", "featurepulse_flink_local.job", "--spool", str(self.spool.directory)]
        command += ["--table", TABLE, "--endpoint-url", endpoint, "--ready-file", str(ready)]
        command += [arg for k, v in properties.items() for arg in ("--property", f"{k}={v}")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(path) for path in FLINK_PYTHONPATH))
        self.log = workdir / "job.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        deadline = time.monotonic() + 240
        while not ready.exists():
            assert self.process.poll() is None, f"job exited: {self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the job did not start in 240 s"
            time.sleep(0.2)

    def send(self, events: list[dict[str, Any]]) -> None:
        records = pack_events(
            (e["user_id"] or e["anonymous_id"], e["event_id"], json.dumps(e).encode()) for e in events
        )
        self.spool.write([r.data for r in records])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _table(client: Any) -> Items:
    out: Items = {}
    kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            item = from_dynamodb(raw)
            out[(item["pk"], item["sk"])] = item
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _wait_for(read: Callable[[], Items], expected: Items, job: Job, what: str) -> None:
    # The sink never writes NULL attributes (sink.ignore-nulls in AWS, the same locally): a None is absent.
    expected = {key: {k: v for k, v in item.items() if v is not None} for key, item in expected.items()}
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while True:
        actual = read()
        if actual == expected:
            return
        assert job.process.poll() is None, f"job exited: {job.log.read_text()[-3000:]}"
        if time.monotonic() > deadline:
            missing = sorted(set(expected) - set(actual))
            wrong = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
            extra = sorted(set(actual) - set(expected))
            pytest.fail(f"{what}: missing {missing[:5]}, different {wrong[:5]}, unexpected {extra[:5]}")
        time.sleep(0.3)


def _stable(read: Callable[[], Items], seconds: float) -> Items:
    """The table once it has not changed for `seconds` (early firing runs every second)."""
    last, since = read(), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.5)
        current = read()
        if current != last:
            last, since = current, time.monotonic()
    return last


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, dynamodb: Any) -> Iterator[Job]:
    job = Job(tmp_path_factory.mktemp("job1"), moto_endpoint)
    yield job
    job.stop()


def test_job_writes_the_reference_items_after_every_phase_then_ignores_a_full_replay(first_run, dynamodb):
    settings = realtime_scenario.settings()
    raw, phases = realtime_scenario.raw_phases(), realtime_scenario.phases()
    # Given the scenario's phases sent one after another (the watermark moves between them)
    for k, phase in enumerate(raw):
        first_run.send(phase)
        # Then after each phase the table holds exactly what the model says: on-time events, duplicates once,
        # the late one within lateness in its window, the late one beyond lateness only in the late counter
        _wait_for(lambda: _table(dynamodb), reference_items(phases[: k + 1], settings), first_run, f"phase {k + 1}")
    final = _table(dynamodb)
    assert final[("F#checkout", "M#2025-03-01T09:00")]["events"] == 5
    assert final[("APP", "L#2025-03-01")]["late_events"] == 1
    # When the whole input is delivered again (a replay from the start of the stream)
    for phase in raw:
        first_run.send(phase)
    # Then no item changes
    assert _stable(lambda: _table(dynamodb), seconds=4.0) == final


def _two_sources_same_message_id() -> list[dict[str, Any]]:
    """Two sources that both send messageId order-1001, each twice, on the next day (own feature and day rows:
    the restart test below replays the scenario only)."""
    base = realtime_scenario.raw_phases()[0][0]
    events = []
    for source_id, user_id, stage in (("src-web", "u-web", "use"), ("src-ios", "u-ios", "complete")):
        events.append(
            {
                **base,
                "event_id": "order-1001",
                "source_id": source_id,
                "user_id": user_id,
                "anonymous_id": f"dev-{user_id}",
                "feature": "two-sources",
                "stage": stage,
                "timestamp": "2025-03-02T09:20:00.000Z",
                "received_at": "2025-03-02T09:20:00.000Z",
                "campaign_name": None,
                "experiment_id": None,
                "variation_id": None,
            }
        )
    return events + events


def test_two_sources_with_the_same_message_id_are_both_counted(first_run, dynamodb):
    # Given the scenario and its replay already aggregated (the test above)
    settings, phases = realtime_scenario.settings(), realtime_scenario.phases()
    raw = _two_sources_same_message_id()
    # When two sources send the same messageId, each one twice
    first_run.send(raw)
    # Then both events count once each, exactly as the reference model says (dedup per source and messageId)
    arrived = [*phases, *phases, [engagement_from_enriched(e) for e in raw]]
    _wait_for(lambda: _table(dynamodb), reference_items(arrived, settings), first_run, "two sources")
    row = _table(dynamodb)[("F#two-sources", "M#2025-03-02T09:20")]
    assert (row["events"], row["uses"], row["completions"], row["persons"]) == (2, 1, 1, 2)


def test_new_job_replaying_the_input_from_scratch_writes_identical_items(
    first_run, tmp_path_factory, moto_endpoint, dynamodb
):
    # Given the table as the first job left it, and that job gone (a restart that lost its state)
    before = _table(dynamodb)
    first_run.stop()
    second = Job(tmp_path_factory.mktemp("job2"), moto_endpoint)
    try:
        settings, phases = realtime_scenario.settings(), realtime_scenario.phases()
        # When a new job reads the same input, phase by phase, and overwrites the same keys
        for k, phase in enumerate(realtime_scenario.raw_phases()):
            second.send(phase)
            # (while it catches up, the windows it has re-opened show their partial numbers again)
            partial = {**before, **reference_items(phases[: k + 1], settings)}
            _wait_for(lambda: _table(dynamodb), partial, second, f"replay phase {k + 1}")
        # Then the table ends exactly as before: writes are upserts of deterministic items
        assert _stable(lambda: _table(dynamodb), seconds=3.0) == before
    finally:
        second.stop()


def test_the_managed_flink_entry_point_plans_the_same_aggregation_into_an_upsert_sink():
    # Given the AWS entry point with stand-in connectors (the Kinesis and DynamoDB jars are fetched at deploy only)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(path) for path in FLINK_PYTHONPATH))
    result = subprocess.run(
        [str(flink_python()), str(REPO_ROOT / "flink" / "app" / "main.py"), "--plan-only"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    # When it plans the job
    assert result.returncode == 0, result.stderr[-3000:]
    plan = result.stdout[result.stdout.index("== Optimized Execution Plan ==") :]
    # Then it is the aggregation the local job runs: minute and day windows fired early and late, and the item
    # building, written as upserts on (pk, sk)
    assert plan.count("GroupWindowAggregate(") == 2
    assert plan.count("emit=[early delay 1000 millisecond, late no delay]") == 2
    assert "TumblingGroupWindow('w$, rowtime, 60000)" in plan
    assert "TumblingGroupWindow('w$, rowtime, 86400000)" in plan
    assert "fp_build_item(" in plan and "fp_build_late_item(" in plan
    assert "Sink(table=[default_catalog.default_database.aggregates]" in plan
    # and the de-duplication is not copied into each branch (it runs once, before the table is made again)
    assert "Deduplicate" not in plan
