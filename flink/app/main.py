"""Entry point of the Managed Service for Apache Flink application (runtime FLINK-1_20, PyFlink).

The application's runtime properties (group `FeaturePulseRealtime`, written by cdk/realtime.py) name the
stream, the table and the settings. The aggregation is `featurepulse_flink.job.build_aggregation`, the one
that runs locally; here its two tables use the Kinesis and DynamoDB connectors (the merged jar named by the
`jarfile` run option).

    python main.py --plan-only     prints the plan with stand-in connectors (datagen, blackhole): no AWS needed
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from featurepulse_flink.job import build_aggregation
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from featurepulse.realtime import sql
from featurepulse.realtime.settings import PROPERTY_GROUP, RealtimeSettings

APPLICATION_PROPERTIES = Path("/etc/flink/application_properties.json")  # where Managed Flink writes them
STREAM_ARN = "stream.arn"
TABLE_NAME = "aggregates.table"
REGION = "aws.region"
INITIAL_POSITION = "source.init.position"
REQUIRED = (STREAM_ARN, TABLE_NAME, REGION)


def read_properties(path: Path = APPLICATION_PROPERTIES) -> dict[str, str]:
    groups: list[dict[str, Any]] = json.loads(path.read_text())
    for group in groups:
        if group.get("PropertyGroupId") == PROPERTY_GROUP:
            return {str(k): str(v) for k, v in group.get("PropertyMap", {}).items()}
    raise SystemExit(f"{path}: no property group {PROPERTY_GROUP}")


def build_job(properties: dict[str, str], *, plan_only: bool = False) -> tuple[Any, Any]:
    missing = [name for name in REQUIRED if not properties.get(name)]
    if missing and not plan_only:
        raise SystemExit(f"missing runtime properties in {PROPERTY_GROUP}: {', '.join(missing)}")
    settings = RealtimeSettings.from_properties(properties)
    env = StreamExecutionEnvironment.get_execution_environment()
    t_env = StreamTableEnvironment.create(env)
    if plan_only:
        t_env.execute_sql(f"CREATE TABLE {sql.RAW_RECORDS} (`data` STRING) WITH ('connector' = 'datagen')")
        t_env.execute_sql(
            f"CREATE TABLE {sql.AGGREGATES_SINK} ({sql.item_columns_sql()}, PRIMARY KEY (`pk`, `sk`) NOT ENFORCED) "
            "WITH ('connector' = 'blackhole')"
        )
    else:
        t_env.execute_sql(
            sql.kinesis_source_ddl(
                stream_arn=properties[STREAM_ARN],
                region=properties[REGION],
                initial_position=properties.get(INITIAL_POSITION, "TRIM_HORIZON"),
            )
        )
        t_env.execute_sql(sql.dynamodb_sink_ddl(table_name=properties[TABLE_NAME], region=properties[REGION]))
    statements = t_env.create_statement_set()
    statements.add_insert(sql.AGGREGATES_SINK, build_aggregation(env, t_env, settings))
    return env, statements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="featurepulse real-time job (Managed Flink entry point)")
    parser.add_argument("--plan-only", action="store_true", help="print the plan with stand-in connectors")
    args = parser.parse_args(argv)
    properties = {} if args.plan_only else read_properties()
    env, statements = build_job(properties, plan_only=args.plan_only)
    if args.plan_only:
        print(statements.explain())
        return 0
    statements.attach_as_datastream()
    env.execute("featurepulse-realtime")
    return 0


if __name__ == "__main__":
    sys.exit(main())
