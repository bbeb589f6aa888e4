"""`featurepulse report`: the report job on demand, locally (DuckDB on the local lake, moto's SES, outbox/)."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurepulse.cli import CliError
from featurepulse.cli_support import iso_day
from featurepulse.reporting.periods import PERIOD_KINDS

if TYPE_CHECKING:
    from featurepulse.reporting.job import RunOutcome


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="build and mail the engagement report of a day or week from the local lake",
        description=(
            "Run the report job locally: the athena_queries/*.sql run by DuckDB on the local lake, the e-mail "
            "sent through moto's SES and written to the outbox as .eml and .html. A period that is over is mailed "
            "once (again only with --force); a period not over yet (today) is mailed as a partial report, marked "
            "'partial (data up to HH:MM UTC)', each time you ask, and does not stop the final one. A period without "
            "any event is not mailed (exit 0, with the reason). Paths default to .featurepulse/local.json "
            "(written by `featurepulse local`)."
        ),
    )
    parser.add_argument("--period", choices=PERIOD_KINDS, default="day", help="a day, or the ISO week of --date")
    parser.add_argument(
        "--date",
        type=iso_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="a day of the period (default: latest in the lake)",
    )
    parser.add_argument(
        "--force", action="store_true", help="send again even if the final report of this period was already sent"
    )
    parser.add_argument("--lake-dir", type=Path, default=None, help="the local lake (default: from local.json)")
    parser.add_argument("--outbox", type=Path, default=None, help="where .eml/.html go (default: from local.json)")
    parser.add_argument("--root", type=Path, default=Path(".featurepulse"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--min-exposed", type=int, default=100, metavar="N", help="experiments: minimum users per variant (100)"
    )
    parser.add_argument(
        "--experiments",
        default=None,
        metavar="JSON|@FILE",
        help="experiments: goal, split, control, start per experiment (default: from local.json; docs/experiments.md)",
    )
    parser.add_argument(
        "--goals",
        default=None,
        metavar="JSON|@FILE",
        help="KPI goals: [{metric, feature, target, deadline}] (default: from local.json; docs/reports.md)",
    )
    parser.add_argument(
        "--segment-trait", default=None, metavar="TRAIT", help="adoption by segment of this trait (default: plan)"
    )
    parser.add_argument(
        "--audience-traits",
        default=None,
        metavar="A,B",
        help="traits written beside each audience member's user ids (default: plan)",
    )
    parser.set_defaults(func=run)


def _json_argument(text: str) -> str:
    return Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text


def run(args: argparse.Namespace) -> int:
    from featurepulse.local.reports import LocalReportTarget, latest_lake_day, run_local_report
    from featurepulse.reporting.experiments_config import parse_experiments

    if args.min_exposed < 1:
        raise CliError("--min-exposed must be at least 1")
    target = LocalReportTarget.from_address_book(args.root, lake_dir=args.lake_dir, outbox_dir=args.outbox)
    if args.experiments is not None:
        text = args.experiments
        if text.startswith("@"):
            text = Path(text[1:]).read_text(encoding="utf-8")
        try:
            target = dataclasses.replace(target, experiments=parse_experiments(text))
        except ValueError as exc:
            raise CliError(f"--experiments: {exc}") from exc
    if args.goals is not None:
        from featurepulse.domain.goals import parse_goals

        try:
            target = dataclasses.replace(target, goals=parse_goals(_json_argument(args.goals)))
        except ValueError as exc:
            raise CliError(f"--goals: {exc}") from exc
    if args.segment_trait:
        target = dataclasses.replace(target, segment_trait=args.segment_trait)
    if args.audience_traits is not None:
        traits = tuple(t.strip() for t in args.audience_traits.split(",") if t.strip())
        target = dataclasses.replace(target, audience_traits=traits)
    if not (target.lake_dir / "events").is_dir():
        raise CliError(f"no lake at {target.lake_dir} (run `make run` first, or pass --lake-dir)")
    day = args.date or latest_lake_day(target.lake_dir) or datetime.now(UTC).date()
    outcome, where = run_local_report(
        args.period, day, target, force=args.force, min_exposed_per_variant=args.min_exposed
    )
    return _print_outcome(outcome, where)


def _print_outcome(outcome: RunOutcome, where: str) -> int:
    """What the run did, in words. Nothing sent because the period is empty or already sent is not a failure
    (exit 0: a scheduler running this command must not alarm on a quiet day); errors raise before this."""
    if outcome.status == "skipped":
        print(f"report {outcome.report_key} not sent: {outcome.reason}; --force to send again")
        return 0
    if outcome.status == "empty":
        print(f"report {outcome.report_key} not sent: {outcome.reason}")
        return 0
    if outcome.data_until is not None:
        until = outcome.data_until.astimezone(UTC)
        print(
            f"partial report {outcome.report_key} (data up to {until:%Y-%m-%d %H:%M} UTC) sent through SES ({where}), "
            f"message {outcome.message_id}"
        )
        print("  the period is not over: a run after it ends sends the final report (this one does not stop it)")
    else:
        print(f"report {outcome.report_key} sent through SES ({where}), message {outcome.message_id}")
    print(f"  html: {outcome.html_path}")
    print(f"  eml:  {outcome.eml_path}")
    return 0
