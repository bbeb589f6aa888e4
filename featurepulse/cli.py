"""The `featurepulse` command line.

Each capability registers its own sub-commands from its own module (`register(subparsers)`), so the
command tree grows without one file everybody edits.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that expose `register(subparsers: argparse._SubParsersAction) -> None`. Each sub-command sets
# `func=callable(args) -> int` with `set_defaults`. Missing modules are skipped (a capability not built yet).
COMMAND_MODULES: tuple[str, ...] = (
    "featurepulse.sources.cli",
    "featurepulse.local.cli",
    "featurepulse.lake.cli",
    "featurepulse.realtime.cli",
    "featurepulse.local.report_cli",
    "featurepulse.local.identity_cli",
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2, never a stack trace."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="featurepulse", description="Feature-engagement analytics: ingest, lake, real time, reports."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except CliError as exc:
        print(f"featurepulse: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
