"""The two ways to run the local stack: the bounded demo (`make run`) and `--serve`.

The demo sends synthetic traffic for a while with a progress bar, lets every component drain, reads the stream
and the quarantine back, prints the counts beside what was sent, each component's summary and where to look,
then stops everything. Its exit code says whether every event is accounted for: 0 when every accepted event is
on the stream and every invalid event sent is in quarantine, 1 otherwise (or when a component failed).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from featurepulse.constants import QUARANTINE_PREFIX
from featurepulse.domain.schema import parse_timestamp
from featurepulse.domain.stages import STAGES
from featurepulse.local.demo_traits import import_for_demo
from featurepulse.local.ground_truth import ground_truth
from featurepulse.local.reports import latest_lake_day
from featurepulse.local.runtime import (
    LOCAL_LAKE_BUCKET,
    LocalStack,
    LocalStackOptions,
    StreamContents,
    read_quarantine,
    read_stream,
    stop_on_signals,
)
from featurepulse.local.traffic import TrafficStats, run_traffic
from featurepulse.local.truth_check import FigureCheck, ReportReadError, compare, report_tables
from featurepulse.realtime.local import finalize_local_days

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_INTERRUPTED = 130
DRAIN_TIMEOUT_S = 120.0


@dataclass
class DemoOutcome:
    exit_code: int
    traffic: TrafficStats
    stream: StreamContents
    quarantined: list[dict[str, Any]]


def make_console() -> Console:
    # Bound to the real stdout: the handler's metric lines are redirected away from sys.stdout while it runs.
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, width=120, soft_wrap=True)
    return console


def _print_started(stack: LocalStack, console: Console) -> None:
    book = stack.address_book.snapshot()
    console.print(f"[bold]featurepulse local[/bold]: AWS APIs (moto) on {book['aws_endpoint_url']}")
    console.print(f"  ingest API   {book['endpoint']}  (Segment HTTP API: POST /v1/batch, /v1/track, ...)")
    console.print(f"  write key    {stack.write_key}  (source {stack.source_id})")
    running = [s.name for s in stack.components if s.error is None]
    failed = [f"{s.name} ({s.error})" for s in stack.components if s.error is not None]
    none = "none (--components none)" if stack.options.only_components == frozenset() else "none registered yet"
    console.print(f"  components   {', '.join(running) or none}")
    for line in failed:
        console.print(f"  [red]FAILED[/red]       {line}")


def _where_to_look(stack: LocalStack, console: Console, *, stays_up: bool = True) -> None:
    """The addresses; `stays_up=False` (the demo, which stops everything next) marks the live ones as closing."""
    book = stack.address_book.snapshot()
    console.print("\n[bold]Where to look[/bold]")
    console.print(f"  address book   {stack.address_book.path}")
    console.print(f"  logs           {book.get('log_file', stack.root / 'logs')}  (ingest handler and components)")
    if "metrics_file" in book:
        console.print(f"  metrics        {book['metrics_file']}  (the handler's CloudWatch EMF lines)")
    labels = {
        "lake_dir": "lake",
        "quarantine_dir": "quarantine",
        "outbox_dir": "report outbox",
        "dashboard_url": "dashboard",
        "aggregates_table": "aggregates",
    }
    for key, label in labels.items():
        if key in book:
            live = key in ("dashboard_url", "aggregates_table") and not stays_up
            note = "  (stops with this demo: `make demo` keeps it up with live traffic)" if live else ""
            console.print(f"  {label:<14} {book[key]}{note}")


def _funnel_table(stream: StreamContents, traffic: TrafficStats) -> Table:
    table = Table(title="Accepted feature events on the stream (sent in brackets)", title_justify="left")
    table.add_column("feature")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    table.add_column("view -> complete", justify="right")
    counts = stream.by_feature_stage()
    features = sorted({f for f, _ in counts} | {f for f, _ in traffic.sent_by_feature_stage})
    for feature in features:
        cells = [f"{counts[(feature, s)]} ({traffic.sent_by_feature_stage[(feature, s)]})" for s in STAGES]
        views = counts[(feature, "view")]
        conversion = f"{counts[(feature, 'complete')] / views:.0%}" if views else "-"
        table.add_row(feature, *cells, conversion)
    return table


def _types_table(stream: StreamContents, traffic: TrafficStats) -> Table:
    table = Table(title="Accepted events on the stream by type (sent in brackets)", title_justify="left")
    table.add_column("type")
    table.add_column("events", justify="right")
    by_type = stream.by_type()
    for kind in sorted(set(by_type) | set(traffic.sent_by_type)):
        table.add_row(kind, f"{by_type[kind]} ({traffic.sent_by_type[kind]})")
    return table


def _experiment_table(stream: StreamContents) -> Table | None:
    views: Counter[str] = Counter()
    completes: Counter[str] = Counter()
    for event in stream.events:
        variant = event.get("variation_id")
        if not variant or not event.get("feature"):
            continue
        if event.get("stage") == "view":
            views[variant] += 1
        elif event.get("stage") == "complete":
            completes[variant] += 1
    if not views:
        return None
    table = Table(title="A/B experiment on the stream (feature events by variant)", title_justify="left")
    for name in ("variant", "views", "completions", "conversion"):
        table.add_column(name, justify="right" if name != "variant" else "left")
    for variant in sorted(views):
        table.add_row(
            variant, str(views[variant]), str(completes[variant]), f"{completes[variant] / views[variant]:.0%}"
        )
    return table


def _quarantine_table(quarantined: list[dict[str, Any]], traffic: TrafficStats) -> Table:
    table = Table(
        title=f"Quarantined events by reason (s3://{LOCAL_LAKE_BUCKET}/{QUARANTINE_PREFIX})", title_justify="left"
    )
    table.add_column("reason")
    table.add_column("events", justify="right")
    for reason, count in Counter(str(q.get("reason")) for q in quarantined).most_common():
        table.add_row(reason, str(count))
    sent = ", ".join(f"{kind}: {n}" for kind, n in sorted(traffic.sent_invalid.items())) or "none"
    table.caption = f"invalid events sent on purpose: {sent}"
    table.caption_justify = "left"
    return table


def _truth_table(checks: list[FigureCheck], day: str) -> Table:
    table = Table(
        title=f"The e-mailed report beside the generator's ground truth, per person ({day})", title_justify="left"
    )
    for column in ("metric", "scope"):
        table.add_column(column)
    for column in ("report", "ground truth", ""):
        table.add_column(column, justify="right")
    for check in checks:
        mark = "[green]=[/green]" if check.matches else "[red]differs[/red]"
        shown = "-" if check.report is None else str(check.report)
        table.add_row(check.metric, check.scope, shown, str(check.truth), mark)
    return table


def check_report_against_truth(
    stack: LocalStack, traffic: TrafficStats, stream: StreamContents, console: Console
) -> list[str]:
    """Print the e-mailed report's person figures beside the ground truth; the problems found (none: equal)."""
    if not traffic.sent_requests:
        return []
    book = stack.address_book.snapshot()
    eml, lake_dir = book.get("report_eml"), book.get("lake_dir")
    day = latest_lake_day(Path(lake_dir)) if lake_dir else None
    if not eml or day is None:
        # The report component is not running (`--components`), or it found nothing to report: a failed
        # component is a problem of its own (`failed_components`).
        console.print("no report e-mail: the ground-truth check is skipped")
        return []
    try:
        tables = report_tables(Path(eml))
    except ReportReadError as exc:
        return [str(exc)]
    truth = ground_truth(
        traffic.sent_requests,
        day,
        accepted_ids=traffic.accepted_ids,
        clock_skew_ms=traffic.clock_skew_ms,
        event_times={str(e["event_id"]): parse_timestamp(str(e["timestamp"])) for e in stream.events},
    )
    checks = compare(tables, truth)
    console.print(_truth_table(checks, day.isoformat()))
    wrong = [c for c in checks if not c.matches]
    return [f"{len(wrong)} of {len(checks)} report figures differ from the ground truth"] if wrong else []


def report(stack: LocalStack, traffic: TrafficStats, console: Console) -> DemoOutcome:
    """Read the stream and the quarantine back, print them beside what was sent; the outcome's exit code."""
    stream = read_stream(stack.client("kinesis"), stack.address_book.snapshot()["stream_name"])
    quarantined = read_quarantine(stack.client("s3"), LOCAL_LAKE_BUCKET)
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(traffic.statuses.items()))
    console.print(
        f"\n[bold]Sent[/bold] {traffic.sent_total} events in {traffic.requests} requests "
        f"over {traffic.elapsed_s:.1f} s ({traffic.sent_total / max(traffic.elapsed_s, 1e-9):.0f} events/s; "
        f"{traffic.sent_valid} valid, "
        f"{sum(traffic.sent_invalid.values())} invalid on purpose); answers {statuses}"
    )
    console.print(
        f"[bold]On the stream[/bold] {len(stream.events)} events in {stream.records} records "
        f"({len(stream.events) / max(1, stream.records):.1f} events per record)"
    )
    console.print(_types_table(stream, traffic))
    console.print(_funnel_table(stream, traffic))
    experiment = _experiment_table(stream)
    if experiment is not None:
        console.print(experiment)
    console.print(_quarantine_table(quarantined, traffic))

    missing = traffic.accepted_ids - stream.event_ids
    duplicates = len(stream.events) - len(stream.event_ids)
    invalid_sent = sum(traffic.sent_invalid.values())
    problems = []
    if missing:
        problems.append(f"{len(missing)} accepted events are missing from the stream")
    if traffic.undelivered_valid:
        problems.append(f"{traffic.undelivered_valid} valid events were not accepted (see the answers above)")
    if len(quarantined) != invalid_sent:
        problems.append(f"{invalid_sent} invalid events sent but {len(quarantined)} quarantined")
    problems.extend(check_report_against_truth(stack, traffic, stream, console))
    console.print(
        f"\n[bold]Check[/bold]: {len(traffic.accepted_ids)} events accepted, "
        f"{len(traffic.accepted_ids) - len(missing)} of them on the stream, {duplicates} duplicate records; "
        f"{invalid_sent} invalid events sent, {len(quarantined)} quarantined"
    )
    for problem in problems:
        console.print(f"  [red]PROBLEM[/red] {problem}")

    console.print("\n[bold]Components[/bold]")
    if not stack.components:
        console.print("  none registered yet (featurepulse/local/runtime.py COMPONENTS)")
    for name, lines in stack.summaries():
        console.print(f"  [bold]{name}[/bold]")
        for line in lines:
            console.print(f"    {line}")
    if stack.failed_components:
        problems.append(f"{len(stack.failed_components)} component(s) failed")
    _where_to_look(stack, console, stays_up=False)
    return DemoOutcome(
        exit_code=EXIT_MISMATCH if problems else EXIT_OK, traffic=traffic, stream=stream, quarantined=quarantined
    )


def _traffic_thread(
    stack: LocalStack,
    stop: threading.Event,
    *,
    rate_eps: float,
    duration_s: float | None,
    seed: int,
) -> tuple[threading.Thread, dict[str, Any]]:
    shared: dict[str, Any] = {"stats": TrafficStats(), "elapsed": 0.0, "error": None}

    def on_tick(stats: TrafficStats, elapsed: float) -> None:
        shared["stats"], shared["elapsed"] = stats, elapsed

    def target() -> None:
        try:
            shared["stats"] = run_traffic(
                stack.address_book.snapshot()["endpoint"],
                stack.write_key,
                rate_eps=rate_eps,
                duration_s=duration_s,
                seed=seed,
                stop=stop,
                on_tick=on_tick,
                keep_requests=duration_s is not None,  # a bounded run is checked against its ground truth
            )
        except Exception as exc:
            shared["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=target, name="local-traffic", daemon=True)
    thread.start()
    return thread, shared


def run_demo(
    options: LocalStackOptions, *, duration_s: float, rate_eps: float, seed: int, console: Console | None = None
) -> DemoOutcome | int:
    """Start the stack, send traffic for `duration_s`, drain, report, stop. Returns the outcome (or 130)."""
    console = console or make_console()
    stop = threading.Event()
    stack = LocalStack(options)
    with stop_on_signals(stop):
        try:
            stack.start()
            _print_started(stack, console)
            if stop.is_set():
                return EXIT_INTERRUPTED
            traffic_stop = threading.Event()
            thread, shared = _traffic_thread(stack, traffic_stop, rate_eps=rate_eps, duration_s=duration_s, seed=seed)
            with Progress(
                TextColumn("sending synthetic traffic"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
                transient=not console.is_terminal,
            ) as progress:
                task = progress.add_task("traffic", total=duration_s, status="")
                while thread.is_alive():
                    if stop.is_set():
                        traffic_stop.set()
                    stats: TrafficStats = shared["stats"]
                    progress.update(
                        task,
                        completed=min(duration_s, shared["elapsed"]),
                        status=f"{stats.sent_total} events, {stats.requests} requests",
                    )
                    thread.join(0.2)
                progress.update(task, completed=duration_s)
            if stop.is_set():
                console.print("interrupted: stopping")
                return EXIT_INTERRUPTED
            if shared["error"]:
                console.print(f"[red]traffic failed[/red]: {shared['error']}")
            # The marketer's CRM and spend files (docs/segments.md), imported before the report runs (at drain).
            import_for_demo(stack, shared["stats"].users, console)
            console.print(f"traffic done; draining {len(list(stack.running_components()))} component(s)...")
            started = time.monotonic()
            stack.drain(DRAIN_TIMEOUT_S)
            console.print(f"drained in {time.monotonic() - started:.1f} s")
            # The daily correction (docs/realtime.md): the dashboard's day figures become the batch's (the report's).
            for done in finalize_local_days(stack.context):
                console.print(f"live day rows of {done.day} corrected with the batch's figures ({done.rows} rows)")
            outcome = report(stack, shared["stats"], console)
            if shared["error"]:
                outcome.exit_code = EXIT_MISMATCH
            return outcome
        finally:
            stack.stop()
            if stack.began:  # a run refused before it started has nothing to stop: its error says why
                console.print("local stack stopped")


def run_serve(
    options: LocalStackOptions,
    *,
    traffic: bool,
    rate_eps: float,
    seed: int,
    console: Console | None = None,
) -> int:
    """Start the stack and keep it up until Ctrl-C or SIGTERM; optional continuous synthetic traffic."""
    console = console or make_console()
    stop = threading.Event()
    stack = LocalStack(options)
    thread: threading.Thread | None = None
    shared: dict[str, Any] = {}
    with stop_on_signals(stop):
        try:
            stack.start()
            _print_started(stack, console)
            book = stack.address_book.snapshot()
            console.print(
                "\ntry it:\n"
                f"  curl -u '{stack.write_key}:' -H 'Content-Type: application/json' "
                '-d \'{"userId": "u1", "event": "Feature Viewed", "properties": {"feature": "smart-search"}}\' '
                f"{book['endpoint']}/v1/track"
            )
            _where_to_look(stack, console)
            if traffic:
                thread, shared = _traffic_thread(stack, stop, rate_eps=rate_eps, duration_s=None, seed=seed)
                console.print(f"\nsending synthetic traffic at {rate_eps:g} events/s")
            console.print("\n[bold]ready[/bold]: Ctrl-C (or SIGTERM) stops everything", soft_wrap=True)
            while not stop.wait(0.5):
                pass
            console.print("stopping...")
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)
                stats: TrafficStats = shared["stats"]
                console.print(f"synthetic traffic: {stats.sent_total} events in {stats.requests} requests")
            stack.stop()
            if stack.began:
                console.print("local stack stopped")
    return EXIT_OK
