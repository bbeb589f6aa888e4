"""Run INSIDE the extracted Flink application zip, under the Managed Flink runtime's Python (3.11) with PyFlink 1.20
and nothing else on the path (tests/deploy/test_flink_artifact.py starts it; it never imports the repository).

    python flink_artifact_probe.py PROPERTIES_JSON SPOOL_DIR

1. The entry point (`main.py`) reads the runtime properties file Managed Flink writes (built by the test from the
   synthesized property groups) and builds its statement set with stand-in connectors: the plan, and the uid of
   every operator that holds state.
2. The shipped aggregation runs on a filesystem source (the records in SPOOL_DIR) in PyFlink's mini-cluster, so
   the Python workers import the shipped modules too, until it has emitted the scenario's checkout rows; then the
   ids of its custom metrics are read from the mini-cluster's REST API (operator scope + metric group + name).

Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from pathlib import Path

# State-holding transformations of the planner (uid suffixes); stateless ones (calc, python-calc...) are left out.
STATEFUL = ("source", "deduplicate", "group-window-aggregate", "group-aggregate", "sink", "upsert-materialize")
METRIC_GROUP = "kinesisanalytics"
WANTED_MINUTE = "F#checkout|M#2025-03-01T09:00"
WANTED_DAY_PREFIX = "F#checkout|D#"
METRICS_WAIT_S = 120.0


def plan_and_uids(properties_file: Path) -> dict[str, object]:
    import main  # the shipped entry point

    properties = main.read_properties(properties_file)
    env, statements = main.build_job(properties, plan_only=True)
    plan = statements.explain()
    statements.attach_as_datastream()
    graph = env._j_stream_execution_environment.getStreamGraph(False)
    nodes = [(str(n.getTransformationUID()), str(n.getOperatorName())) for n in graph.getStreamNodes().toArray()]
    uids = sorted(uid for uid, _ in nodes if uid != "None")
    # Tables made from streams (`*anonymous_datastream_source*`) are planner sources without state of their own.
    stateful = sorted(
        uid for uid, name in nodes if uid.split("_", 1)[-1] in STATEFUL and "anonymous_datastream_source" not in name
    )
    return {"plan": plan, "uids": uids, "stateful_uids": stateful}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _custom_metric_ids(base: str, deadline: float) -> list[str]:
    """The metric ids of the running job's `kinesisanalytics` group, from the mini-cluster's REST API, once the
    unpack counter (always incremented) is there."""
    found: list[str] = []
    while time.monotonic() < deadline:
        (job,) = json.load(urllib.request.urlopen(f"{base}/jobs", timeout=10))["jobs"]
        vertices = json.load(urllib.request.urlopen(f"{base}/jobs/{job['id']}", timeout=10))["vertices"]
        found = []
        for vertex in vertices:
            url = f"{base}/jobs/{job['id']}/vertices/{vertex['id']}/metrics"
            found += [m["id"] for m in json.load(urllib.request.urlopen(url, timeout=10)) if METRIC_GROUP in m["id"]]
        if any(i.endswith(".eventsUnpacked") for i in found):
            return sorted(found)
        time.sleep(2)
    return sorted(found)


def run_shipped_aggregation(properties_file: Path, spool: Path) -> dict[str, object]:
    """The shipped aggregation on the spool's records, until it has emitted the scenario's checkout rows; then the
    job's custom metrics as Flink registered them (what Managed Flink turns into CloudWatch metrics)."""
    import main
    from featurepulse_flink.job import METRIC_GROUP as GROUP
    from featurepulse_flink.job import build_aggregation
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    from featurepulse.realtime import items
    from featurepulse.realtime.settings import RealtimeSettings

    assert GROUP == METRIC_GROUP, GROUP
    settings = RealtimeSettings.from_properties(main.read_properties(properties_file))
    port = _free_port()
    config = Configuration()
    config.set_string("python.executable", sys.executable)
    config.set_string("rest.bind-port", str(port))
    config.set_string("metrics.fetcher.update-interval", "1000")
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(1)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(
        f"CREATE TABLE raw_records (`data` STRING) WITH ('connector' = 'filesystem', "
        f"'path' = '{spool.resolve().as_uri()}', 'format' = 'json', 'source.monitor-interval' = '1 s')"
    )
    rows = t_env.to_changelog_stream(build_aggregation(env, t_env, settings)).execute_and_collect()
    keys: set[str] = set()
    with rows:  # closing it cancels the job
        for row in rows:
            if row.get_row_kind().name in ("INSERT", "UPDATE_AFTER"):
                item = dict(zip(items.ITEM_COLUMN_NAMES, row, strict=True))
                keys.add(f"{item[items.PK]}|{item[items.SK]}")
            if WANTED_MINUTE in keys and any(k.startswith(WANTED_DAY_PREFIX) for k in keys):
                break
        metric_ids = _custom_metric_ids(f"http://127.0.0.1:{port}", time.monotonic() + METRICS_WAIT_S)
    return {"item_keys": sorted(keys), "custom_metric_ids": metric_ids}


def main_probe() -> int:
    properties_file, spool = Path(sys.argv[1]), Path(sys.argv[2])
    import featurepulse_flink

    import featurepulse

    result: dict[str, object] = {
        "python": list(sys.version_info[:2]),
        "featurepulse": featurepulse.__file__,
        "featurepulse_flink": featurepulse_flink.__file__,
    }
    result.update(plan_and_uids(properties_file))
    result.update(run_shipped_aggregation(properties_file, spool))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main_probe())
