"""`featurepulse realtime panels`: the live panels as JSON, read from the aggregates table (AWS or local).

    featurepulse realtime panels --table <AggregatesTableName> [--feature F] [--at 2025-03-01T09:30:00Z]

Uses the default AWS credentials and region (locally: the `aws_endpoint_url` of .featurepulse/local.json via
AWS_ENDPOINT_URL). The same reads as the dashboards (featurepulse/realtime/dal.py).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from featurepulse.cli import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("realtime", help="real-time aggregates (Flink -> DynamoDB)")
    commands = parser.add_subparsers(dest="realtime_command", metavar="COMMAND", required=True)
    panels = commands.add_parser("panels", help="print the five live panels as JSON")
    panels.add_argument("--table", required=True, help="the aggregates table (stack output AggregatesTableName)")
    panels.add_argument("--feature", default=None, help="feature id (default: the most used today)")
    panels.add_argument("--at", default=None, help="ISO-8601 time to read the panels at (default: now)")
    panels.set_defaults(func=print_panels)


def print_panels(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from featurepulse.realtime.dal import AggregatesReader
    from featurepulse.realtime.windows import parse_instant_ms

    try:
        now_ms = parse_instant_ms(args.at) if args.at else int(time.time() * 1000)
    except ValueError:
        raise CliError(f"--at is not an ISO-8601 time: {args.at!r}") from None
    reader = AggregatesReader(boto3.client("dynamodb"), args.table)
    try:
        panels = reader.panels(args.feature, now_ms)
    except ClientError as exc:
        raise CliError(f"cannot read table {args.table}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise CliError(f"cannot read table {args.table}: {exc}") from None
    print(panels.model_dump_json(indent=2))
    return 0
