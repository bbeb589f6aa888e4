"""The `featurepulse` command line as a new user meets it: --version, help for a bare command group, and one
line instead of a traceback for an unexpected error."""

from __future__ import annotations

import argparse

import pytest

from featurepulse import cli


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]):
    # Given the installed package / When asked for its version
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    # Then it prints it and exits 0
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("featurepulse 0.")


@pytest.mark.parametrize("group", ["sources", "realtime", "quarantine", "identity"])
def test_a_command_group_without_its_verb_prints_its_help(group: str, capsys: pytest.CaptureFixture[str]):
    # Given a command group typed alone / When run
    code = cli.main([group])
    # Then its help (with its verbs) is printed instead of a bare "required" error, exit 2
    out = capsys.readouterr().out
    assert code == 2
    assert out.startswith(f"usage: featurepulse {group}")
    assert "COMMAND" in out


def test_an_unexpected_error_is_one_line_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # Given a command that fails the way boto3 does without a region
    class NoRegionError(Exception):
        pass

    def fail(_args: argparse.Namespace) -> int:
        raise NoRegionError("You must specify a region.")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=fail)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    # When it runs
    code = cli.main([])
    # Then the user gets one line saying what to do, and exit 1
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "no AWS region: set AWS_REGION" in err and "Traceback" not in err


def test_the_debug_variable_shows_the_traceback(monkeypatch: pytest.MonkeyPatch):
    # Given FEATUREPULSE_DEBUG set and a failing command
    parser = cli.build_parser()

    def fail(_args: argparse.Namespace) -> int:
        raise RuntimeError("boom")

    parser.set_defaults(func=fail)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    # When it runs, Then the exception propagates (for the developer)
    with pytest.raises(RuntimeError, match="boom"):
        cli.main([])


def test_a_group_option_is_accepted_after_the_verb_too():
    # Given the sources group's --table typed after the verb, and before it
    after = cli.build_parser().parse_args(["sources", "create", "--name", "x", "--table", "t1"])
    before = cli.build_parser().parse_args(["sources", "--table", "t2", "create", "--name", "x"])
    # When parsed, Then both place the table where the verb reads it
    assert after.table == "t1"
    assert before.table == "t2"
