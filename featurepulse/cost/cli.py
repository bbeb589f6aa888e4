"""`featurepulse cost`: the monthly AWS bill of the stack for a workload, from the deploy settings.

    featurepulse cost --rate 100 --event-bytes 1000 --batch 100 [--region us-east-1] [--viewers 1] [--json]
                      [--context streamMode=provisioned --context shardCount=2 ...]

The settings are cdk.json's context plus the `--context` overrides, parsed by `cdk.settings.StackSettings` exactly
as app.py does, so the bill follows the configuration `cdk deploy` would use. docs/cost.md explains every line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from featurepulse.cli import CliError
from featurepulse.cost.model import (
    FIGURE_NAMES,
    MEASURED_INPUTS_PATH,
    SERVICES,
    Bill,
    CostInputError,
    DeploySettings,
    Workload,
    load_measured_inputs,
    monthly_bill,
)
from featurepulse.cost.prices import PRICES_READ_ON, UnknownRegionError, prices_for

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "cost",
        help="monthly AWS bill of the stack for a workload (docs/cost.md)",
        description="Price every service the stack deploys for a workload, with the deploy settings of cdk.json "
        "(and --context overrides), the measured inputs and the dated price table (docs/cost.md).",
    )
    parser.add_argument("--rate", type=float, required=True, metavar="EVENTS_PER_S", help="events per second")
    parser.add_argument("--event-bytes", type=int, required=True, metavar="N", help="bytes of one event as sent")
    parser.add_argument("--batch", type=int, required=True, metavar="N", help="events per API request")
    parser.add_argument("--region", default="us-east-1", help="AWS region of the price table (default us-east-1)")
    parser.add_argument("--viewers", type=int, default=1, metavar="N", help="people watching the live panels")
    parser.add_argument(
        "--adhoc-queries-per-day", type=float, default=100.0, metavar="N", help="ad-hoc Athena queries a day (100)"
    )
    parser.add_argument(
        "--adhoc-mb-per-query", type=float, default=100.0, metavar="MB", help="MB scanned per ad-hoc query (100)"
    )
    parser.add_argument("--months", type=int, default=1, metavar="N", help="bill of month N (lake storage grows)")
    parser.add_argument(
        "--context",
        "-c",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a CDK context value, as `cdk deploy -c` takes it (repeatable)",
    )
    parser.add_argument("--cdk-json", type=Path, default=CDK_JSON, help=argparse.SUPPRESS)
    parser.add_argument("--measured-inputs", type=Path, default=MEASURED_INPUTS_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the bill as JSON")
    parser.set_defaults(func=run_cost)


def _context_overrides(pairs: Sequence[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--context takes KEY=VALUE, not {pair!r}")
        overrides[key.strip()] = value
    return overrides


def deploy_settings(cdk_json: Path, overrides: Mapping[str, str]) -> DeploySettings:
    """cdk.json's context + overrides -> StackSettings (as app.py builds it) -> the plain values the model needs."""
    # `cdk/` sits at the repository root beside cdk.json and is not an installed package: the console script
    # finds it only from the checkout, as `cdk synth` does.
    if (REPO_ROOT / "cdk" / "settings.py").is_file() and str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # no node banner in the bill
    try:
        from cdk.settings import SettingsError, StackSettings
    except ModuleNotFoundError as exc:
        raise CliError(f"the cost command reads the deploy settings with the CDK libraries ({exc})") from None
    try:
        context = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the CDK context from {cdk_json}: {exc}") from None
    merged = {**context, **overrides}
    unknown = StackSettings.unknown_context_keys(merged)
    if unknown:
        raise CliError("; ".join(unknown) + " (docs/deploy.md lists every context parameter)")
    known = set(StackSettings.context_keys())
    try:
        settings = StackSettings.from_mapping({k: v for k, v in merged.items() if k in known})
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    return to_deploy_settings(settings)


def to_deploy_settings(settings: Any) -> DeploySettings:
    """The plain values of a StackSettings (keys added by later changes are read when present)."""
    defaults = DeploySettings()
    try:
        return DeploySettings(
            stream_mode=settings.stream_mode,
            # With streamMode=auto the stack sizes the stream (StackSettings.stream_shard_count): price those shards.
            shard_count=getattr(settings, "stream_shard_count", None) or settings.shard_count,
            stream_retention_hours=settings.stream_retention_hours,
            expected_events_per_second=getattr(
                settings, "expected_events_per_second", defaults.expected_events_per_second
            ),
            expected_event_bytes=getattr(settings, "expected_event_bytes", defaults.expected_event_bytes),
            trace_sample_rate=getattr(settings, "trace_sample_rate", defaults.trace_sample_rate),
            ingest_memory_mb=settings.ingest_memory_mb,
            log_retention_days=settings.log_retention_days,
            lake_buffer_interval_seconds=settings.lake_buffer_interval_seconds,
            lake_buffer_size_mib=settings.lake_buffer_size_mib,
            lake_infrequent_access_days=settings.lake_infrequent_access_days,
            realtime_parallelism=settings.realtime_parallelism,
            realtime_parallelism_per_kpu=settings.realtime_parallelism_per_kpu,
            realtime_early_fire_delay_ms=settings.realtime_early_fire_delay_ms,
            reports_enabled=bool(settings.report_sender and settings.report_recipients),
            report_recipients=len(settings.report_recipients),
            report_sender=settings.report_sender is not None,
            quicksight_enabled=settings.quicksight_principal_arn is not None,
            alarm_email=settings.alarm_email is not None,
            waf_enabled=getattr(settings, "waf_enabled", defaults.waf_enabled),
        )
    except CostInputError as exc:
        raise CliError(str(exc)) from None


def run_cost(args: argparse.Namespace) -> int:
    try:
        prices_for(args.region)
        workload = Workload(
            events_per_second=args.rate,
            event_bytes=args.event_bytes,
            batch_size=args.batch,
            viewers=args.viewers,
            adhoc_queries_per_day=args.adhoc_queries_per_day,
            adhoc_mb_per_query=args.adhoc_mb_per_query,
            months_stored=args.months,
        )
        settings = deploy_settings(args.cdk_json, _context_overrides(args.context))
        bill = monthly_bill(workload, settings, region=args.region, measured=load_measured_inputs(args.measured_inputs))
    except (CostInputError, UnknownRegionError) as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(bill_json(bill), indent=2) if args.json else render_bill(bill))
    return 0


def bill_json(bill: Bill) -> dict[str, Any]:
    return {
        "services": {name: round(usd, 2) for name, usd in bill.services().items()},
        "lake_path_usd": round(bill.lake_path_usd, 2),
        "realtime_usd": round(bill.realtime_usd, 2),
        "total_usd": round(bill.total_usd, 2),
        "inputs": {
            "region": bill.region,
            "prices_read_on": PRICES_READ_ON,
            "workload": vars(bill.workload),
            "settings": vars(bill.settings),
            "measured_at": bill.measured_at,
            "figures": {
                name: {
                    "value": figure.value,
                    "unit": figure.unit,
                    "source": figure.source,
                    "how": figure.how,
                    "measured_at": figure.measured_at,
                }
                for name, figure in ((n, bill.figures.values[n]) for n in FIGURE_NAMES)
            },
            "reports_usd": round(bill.reports_usd, 2),
            "notes": list(bill.notes),
        },
    }


def render_bill(bill: Bill) -> str:
    w = bill.workload
    out = [
        f"featurepulse monthly bill, {bill.region}, prices of {PRICES_READ_ON} (730-hour month, no free tier)",
        f"workload: {w.events_per_second:g} events/s of {w.event_bytes} B in requests of {w.batch_size} "
        f"({w.requests_per_second * 3600 * 730 / 1e6:,.3f} M requests, {w.events_per_second * 3600 * 730 / 1e6:,.1f} M "
        f"events a month), {w.viewers} live-panel viewer(s), {w.adhoc_queries_per_day:g} ad-hoc queries/day",
        "",
    ]
    for service in SERVICES:
        lines = [line for line in bill.lines if line.service == service]
        total = sum(line.usd for line in lines)
        out.append(f"{service:<24}{'':>46}{total:>12,.2f}")
        for line in lines:
            out.append(
                f"    {line.what[:58]:<58} {line.quantity:>14,.2f} {line.unit[:13]:<13}{line.usd:>9,.2f}  {line.path}"
            )
    out += [
        "",
        f"{'lake path':<70}{bill.lake_path_usd:>12,.2f}",
        f"{'real time':<70}{bill.realtime_usd:>12,.2f}",
        f"{'reports':<70}{bill.reports_usd:>12,.2f}",
        f"{'total (USD per month)':<70}{bill.total_usd:>12,.2f}",
        "",
        "inputs (measured ones from featurepulse/cost/measured_inputs.json, with their date):",
    ]
    for name in FIGURE_NAMES:
        figure = bill.figures.values[name]
        when = f"measured {figure.measured_at}" if figure.measured_at else "ASSUMED"
        out.append(f"    {name:<38} {figure.value:>18,.3f} {figure.unit:<14} {when}: {figure.how}")
    if bill.measured_at is None:
        out.append("    (no measured inputs file: run bench/bench_cost_inputs.py)")
    for note in bill.notes:
        out.append(f"note: {note}")
    return "\n".join(out)
