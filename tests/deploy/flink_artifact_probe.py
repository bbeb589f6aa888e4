"""Run INSIDE the extracted Flink application zip, under the Managed Flink runtime's Python (3.11) with PyFlink 1.20
and nothing else on the path (tests/deploy/test_flink_artifact.py starts it; it never imports the repository).

    python flink_artifact_probe.py PROPERTIES_JSON SPOOL_DIR

1. The entry point (`main.py`) reads the runtime properties file Managed Flink writes (built by the test from the
   synthesized property groups) and builds its statement set with stand-in connectors: the plan, and the uid of
   every operator that holds state.
2. The shipped aggregation runs once on a bounded filesystem source (the records in SPOOL_DIR) in PyFlink's
   mini-cluster, so the Python workers import the shipped modules too; the items it emits are counted.

Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# State-holding transformations of the planner (uid suffixes); stateless ones (calc, python-calc...) are left out.
STATEFUL = ("source", "deduplicate", "group-window-aggregate", "group-aggregate", "sink", "upsert-materialize")


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


def run_bounded(properties_file: Path, spool: Path) -> dict[str, object]:
    import main
    from featurepulse_flink.job import build_aggregation
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    from featurepulse.realtime import items
    from featurepulse.realtime.settings import RealtimeSettings

    settings = RealtimeSettings.from_properties(main.read_properties(properties_file))
    config = Configuration()
    config.set_string("python.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(1)
    t_env = StreamTableEnvironment.create(env)
    # Bounded: no monitor interval, so the job ends after the files are read (windows fire at end of input).
    t_env.execute_sql(
        f"CREATE TABLE raw_records (`data` STRING) WITH ('connector' = 'filesystem', "
        f"'path' = '{spool.resolve().as_uri()}', 'format' = 'json')"
    )
    rows = t_env.to_changelog_stream(build_aggregation(env, t_env, settings)).execute_and_collect()
    keys = set()
    with rows:
        for row in rows:
            if row.get_row_kind().name in ("INSERT", "UPDATE_AFTER"):
                item = dict(zip(items.ITEM_COLUMN_NAMES, row, strict=True))
                keys.add(f"{item[items.PK]}|{item[items.SK]}")
    return {"item_keys": sorted(keys)}


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
    result.update(run_bounded(properties_file, spool))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main_probe())
