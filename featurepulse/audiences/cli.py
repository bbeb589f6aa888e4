"""`featurepulse audiences export`: one audience of one feature and period as CSV, the same file the report job
writes under the lake's `audiences/` (featurepulse/reporting/audiences.py; docs/reports.md, "Audiences").

Locally (default) the query runs on DuckDB over the local lake of `.featurepulse/local.json`, after the identity
table is brought up to date as the report does; with `--database` and `--workgroup` it runs on Athena (the
deployed lake; AWS credentials from the environment). The CSV goes to `--out` or standard output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from featurepulse.cli import CliError
from featurepulse.cli_support import iso_day
from featurepulse.reporting.audiences import AUDIENCES
from featurepulse.reporting.periods import PERIOD_KINDS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audiences",
        help="export the persons of a feature's audience (viewed-not-adopted, adopted-not-completed) as CSV",
        description="Audiences for campaigns: the identified persons of a feature's audience in a period, with their "
        "user ids and chosen traits, as the report job writes them (docs/reports.md).",
    )
    verbs = parser.add_subparsers(dest="audiences_command", metavar="VERB")
    export = verbs.add_parser("export", help="one audience of one feature and period as CSV")
    export.add_argument("--feature", required=True, help="the feature (properties.feature of its events)")
    export.add_argument("--audience", required=True, choices=AUDIENCES)
    export.add_argument("--period", choices=PERIOD_KINDS, default="day", help="a day, or the ISO week of --date")
    export.add_argument("--date", type=iso_day, required=True, metavar="YYYY-MM-DD", help="a day of the period")
    export.add_argument("--out", type=Path, default=None, metavar="FILE", help="write here (default: stdout)")
    export.add_argument(
        "--traits", default=None, metavar="A,B", help="traits beside the user ids (default: local.json's, or plan)"
    )
    export.add_argument("--database", default=None, help="AWS: the Glue database of the lake (Athena)")
    export.add_argument("--workgroup", default=None, help="AWS: the Athena workgroup")
    export.add_argument("--events-table", default="events", help="AWS: the events table (default events)")
    export.add_argument("--identities-table", default="identities", help="AWS: the identity table")
    export.add_argument("--lake-dir", type=Path, default=None, help="local: the lake (default: from local.json)")
    export.add_argument("--root", type=Path, default=Path(".featurepulse"), help=argparse.SUPPRESS)
    export.set_defaults(func=run_export)


def export_csv(runner: Any, feature: str, audience: str, period: Any, traits: tuple[str, ...]) -> bytes:
    """The audience's CSV from a query runner (DuckDB or Athena): the report job's own code path."""
    from featurepulse.reporting.audiences import TRAITS_TABLE, audience_csv, audience_traits_table, build_audiences

    params = dict(period.query_parameters(1))
    params[TRAITS_TABLE] = audience_traits_table(traits)
    rows = runner.run("feature_audiences", params).rows
    chosen = next(a for a in build_audiences(rows, [feature]) if a.feature == feature and a.audience == audience)
    return audience_csv(chosen, traits)


def run_export(args: argparse.Namespace) -> int:
    from featurepulse.reporting.periods import Period

    period = Period.containing(args.period, args.date)
    if (args.database is None) != (args.workgroup is None):
        raise CliError("give both --database and --workgroup (Athena), or neither (the local lake)")
    if args.database is not None:
        from featurepulse.reporting.athena_runner import AthenaQueryRunner

        traits = _traits(args.traits, ("plan",))
        runner: Any = AthenaQueryRunner(
            database=args.database,
            table=args.events_table,
            identities_table=args.identities_table,
            workgroup=args.workgroup,
        )
        data = export_csv(runner, args.feature, args.audience, period, traits)
    else:
        from featurepulse.local.duckdb_runner import DuckDbQueryRunner
        from featurepulse.local.identity import local_refresher
        from featurepulse.local.reports import LocalReportTarget

        target = LocalReportTarget.from_address_book(args.root, lake_dir=args.lake_dir)
        if not (target.lake_dir / "events").is_dir():
            raise CliError(f"no lake at {target.lake_dir} (run `make run` first, or pass --lake-dir)")
        traits = _traits(args.traits, target.audience_traits)
        local_refresher(target.lake_dir)()  # the identity table as of now, as the report reads it
        duckdb_runner = DuckDbQueryRunner(target.lake_dir)
        try:
            data = export_csv(duckdb_runner, args.feature, args.audience, period, traits)
        finally:
            duckdb_runner.close()
    if args.out is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        args.out.write_bytes(data)
        persons = data.count(b"\r\n") - 1  # the header is one line; a cell never holds a line break here
        print(f"{args.feature} / {args.audience} of {period.label}: {persons} persons -> {args.out}")
    return 0


def _traits(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if text is None:
        return tuple(default)
    return tuple(t.strip() for t in text.split(",") if t.strip())
