"""`featurepulse local`: run the whole pipeline on this machine (`make run`, `make serve`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from featurepulse.cli import CliError

DEFAULT_DURATION_S = 25.0
DEFAULT_RATE_EPS = 40.0
DEFAULT_SEED = 7


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run the pipeline locally (moto stands in for AWS): a demo, or --serve for real SDKs",
        description=(
            "Start moto (the AWS APIs), create the stream, tables and buckets, serve the real ingest handler as a "
            "Segment-compatible endpoint, start the local lake, Flink job, dashboard and report components, and "
            "write the addresses into DIR/local.json. Without --serve: send synthetic traffic for --duration "
            "seconds, print what arrived, and stop. With --serve: keep running until Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=None,
        metavar="S",
        help=f"demo: seconds of synthetic traffic (default {DEFAULT_DURATION_S:g}; --serve runs until Ctrl-C)",
    )
    parser.add_argument(
        "--rate",
        type=_positive,
        default=DEFAULT_RATE_EPS,
        metavar="EPS",
        help=f"synthetic events per second (default {DEFAULT_RATE_EPS:g})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="N",
        help=f"seed of the synthetic traffic (default {DEFAULT_SEED})",
    )
    parser.add_argument("--serve", action="store_true", help="keep the stack up until Ctrl-C or SIGTERM")
    parser.add_argument("--traffic", action="store_true", help="with --serve: also send synthetic traffic")
    parser.add_argument(
        "--port",
        type=_port,
        default=None,
        metavar="P",
        help="port of the ingest endpoint (default 8787, or a free one if taken; 0: any free port)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(".featurepulse"),
        metavar="DIR",
        help="state directory: local.json, lake, quarantine, outbox, logs (default .featurepulse)",
    )
    parser.add_argument(
        "--components",
        default=None,
        metavar="NAMES",
        help="comma-separated names of the components to start (default: all registered; 'none': ingest only)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the lake, quarantine and outbox of earlier runs (default: start empty)",
    )
    parser.set_defaults(func=run_local)


def run_local(args: argparse.Namespace) -> int:
    from featurepulse.local.demo import DemoOutcome, run_demo, run_serve
    from featurepulse.local.runtime import DEFAULT_PORT, LocalStackError, LocalStackOptions

    if args.traffic and not args.serve:
        raise CliError("--traffic goes with --serve (the demo always sends traffic)")
    if args.serve and args.duration is not None:
        raise CliError("--duration goes with the demo; --serve (with or without --traffic) runs until Ctrl-C")
    duration = DEFAULT_DURATION_S if args.duration is None else args.duration
    only: frozenset[str] | None = None
    if args.components is not None:
        names = {n.strip() for n in args.components.split(",") if n.strip()}
        only = frozenset() if names == {"none"} else frozenset(names)
    options = LocalStackOptions(
        only_components=only,
        root=args.dir,
        port=DEFAULT_PORT if args.port is None else args.port,
        port_is_default=args.port is None,
        keep_data=args.keep_data,
    )
    try:
        if args.serve:
            return run_serve(options, traffic=args.traffic, rate_eps=args.rate, seed=args.seed)
        outcome = run_demo(options, duration_s=duration, rate_eps=args.rate, seed=args.seed)
    except LocalStackError as exc:
        raise CliError(str(exc)) from exc
    return outcome.exit_code if isinstance(outcome, DemoOutcome) else outcome
