"""`featurepulse local` argument handling: user errors are one line and exit 2, before anything starts."""

from __future__ import annotations

import pytest

from featurepulse.cli import build_parser, main


def test_local_is_a_command_with_the_demo_and_serve_options():
    # Given the command line
    args = build_parser().parse_args(["local", "--serve", "--port", "0", "--components", "none"])
    # Then the local command parses its options
    assert args.serve is True
    assert args.port == 0
    assert args.components == "none"
    assert args.duration is None and args.rate > 0  # the demo's default duration applies when it runs


def test_traffic_without_serve_is_a_one_line_user_error(capsys: pytest.CaptureFixture[str]):
    # When --traffic is given without --serve
    code = main(["local", "--traffic"])
    # Then the CLI says why in one line and exits 2, without a stack trace
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "featurepulse: error: --traffic goes with --serve (the demo always sends traffic)"


def test_duration_with_serve_is_a_one_line_user_error(capsys: pytest.CaptureFixture[str]):
    # When --duration is given to --serve --traffic (which runs until Ctrl-C)
    code = main(["local", "--serve", "--traffic", "--duration", "10"])
    # Then it is refused in one line instead of being ignored
    err = capsys.readouterr().err
    assert code == 2
    assert "--duration goes with the demo" in err


@pytest.mark.parametrize(
    "argv", [["local", "--duration", "0"], ["local", "--rate", "-5"], ["local", "--port", "70000"]]
)
def test_out_of_range_numbers_are_refused_by_the_parser(argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
