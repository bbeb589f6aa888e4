"""The `featurepulse` command line.

Each capability registers its own sub-commands from its own module (`register(subparsers)`), so the
command tree grows without one file everybody edits.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.metadata
import os
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
    "featurepulse.local.lake_query_cli",
    "featurepulse.local.soak",
    "featurepulse.traits.cli",
    "featurepulse.cost.cli",
    "featurepulse.audiences.cli",
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2, never a stack trace."""


def _version() -> str:
    try:
        return importlib.metadata.version("featurepulse")
    except importlib.metadata.PackageNotFoundError:  # a checkout run without `pip install -e`
        return "unknown (not installed)"


def _finish_group(parser: argparse.ArgumentParser) -> None:
    """Make a command group forgiving, as people type it.

    Without its verb (`featurepulse sources`) it prints its help rather than a bare 'required' error; its own
    options are accepted after the verb too (`sources create --name x --table t`, not only `sources --table t
    create ...`): each verb gets a copy whose default does not override a value given before the verb.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        action.required = False
        group_options = [
            a
            for a in parser._actions
            if a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
        ]
        for child in action.choices.values():
            taken = {o for a in child._actions for o in a.option_strings}
            for option in group_options:
                if taken.isdisjoint(option.option_strings):
                    copied = copy.copy(option)
                    copied.default = argparse.SUPPRESS
                    copied.container = child  # type: ignore[attr-defined]
                    child._add_action(copied)
            _finish_group(child)
        if parser.get_default("func") is None:
            parser.set_defaults(func=lambda _args, group=parser: (group.print_help(), 2)[1])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="featurepulse", description="Feature-engagement analytics: ingest, lake, real time, reports."
    )
    parser.add_argument("--version", action="version", version=f"featurepulse {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        module.register(subparsers)
    for command in subparsers.choices.values():
        _finish_group(command)
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
    except Exception as exc:  # never a traceback for a user: one line, and how to get the details
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"featurepulse: error: {_explain(exc)} (set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 1


DEBUG_ENV = "FEATUREPULSE_DEBUG"


def _explain(exc: Exception) -> str:
    """One line for an unexpected error; the AWS ones people meet first say what to do."""
    name = type(exc).__name__
    if name == "NoRegionError":
        return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or start the local stack (`make serve`)"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no AWS credentials: configure them (aws configure / AWS_PROFILE), or start the local stack"
    if name == "EndpointConnectionError":
        return f"cannot reach the AWS endpoint: {exc} (is the local stack running? `make serve`)"
    return f"{name}: {exc}"


if __name__ == "__main__":
    sys.exit(main())
