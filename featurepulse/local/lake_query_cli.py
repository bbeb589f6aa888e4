"""`featurepulse lake query "SQL"`: ask the local lake a question with the embedded DuckDB (no duckdb CLI needed).

    featurepulse lake query "SELECT dt, count(*) AS events FROM events GROUP BY dt ORDER BY dt"
    featurepulse lake query --athena "SELECT approx_distinct(user_id) FROM events"   # Athena SQL, translated
    featurepulse lake query --csv "SELECT * FROM identities" > persons.csv

Views: `events` (the lake's Parquet, dt/hr as strings, as the Glue table) and `identities` (the identity table,
docs/identity.md). The lake: `lake_dir` of `.featurepulse/local.json`, else `.featurepulse/lake`, or `--lake-dir`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import duckdb

from featurepulse.cli import CliError
from featurepulse.local.duckdb_runner import DuckDbQueryRunner

DEFAULT_ROOT = Path(".featurepulse")


def register(subparsers: Any) -> None:
    lake = subparsers.add_parser("lake", help="query the local lake (DuckDB, no AWS)")
    commands = lake.add_subparsers(dest="lake_command", metavar="COMMAND")
    query = commands.add_parser(
        "query",
        help="run SQL over the views events and identities of the local lake",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("sql", metavar="SQL", help="one statement (DuckDB SQL; Athena SQL with --athena)")
    query.add_argument("--athena", action="store_true", help="the SQL is Athena (Trino) SQL: translate it first")
    query.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    query.add_argument("--lake-dir", type=Path, default=None, help="the lake directory (default: the local stack's)")
    query.add_argument("--dir", type=Path, default=DEFAULT_ROOT, help="the local stack's directory (.featurepulse)")
    query.set_defaults(func=run_query)


def lake_dir_of(root: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    try:
        book = json.loads((root / "local.json").read_text(encoding="utf-8"))
        if isinstance(book, dict) and book.get("lake_dir"):
            return Path(str(book["lake_dir"]))
    except (OSError, ValueError):
        pass
    return root / "lake"


def run_query(args: argparse.Namespace) -> int:
    lake_dir = lake_dir_of(args.dir, args.lake_dir)
    if not lake_dir.is_dir():
        raise CliError(f"no lake at {lake_dir}: run `make run` (or pass --lake-dir)")
    runner = DuckDbQueryRunner(lake_dir)
    try:
        result = runner.query(args.sql, athena=args.athena)
    except (duckdb.Error, ValueError) as exc:
        raise CliError(f"the query failed: {str(exc).splitlines()[0]}") from None
    finally:
        runner.close()
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows([row[c] for c in result.columns] for row in result.rows)
        return 0
    widths = [max([len(c), *(len(str(r[c])) for r in result.rows)]) for c in result.columns]
    print("  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)))
    for row in result.rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(result.columns, widths, strict=True)))
    print(f"({len(result.rows)} rows)", file=sys.stderr)
    return 0
