"""The command line: every command has --help; exit statuses follow the contract."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gridder.cli import build_parser, main


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"gridder {command}" in out
    assert len(out.splitlines()) > 3


def test_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check"])
    assert info.value.code == 2
    assert "--communities" in capsys.readouterr().err


def test_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gridder", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.startswith("gridder ")


def test_verbosity_goes_before_or_after_the_command() -> None:
    from gridder.cli import build_parser

    parser = build_parser()
    base = ["check", "--communities", "c.gpkg", "--buildings", "b.gpkg"]
    assert parser.parse_args(base).verbose == 0
    assert parser.parse_args(["-v", *base]).verbose == 1
    after = parser.parse_args([*base, "-vv"])
    assert after.verbose == 2 and not after.quiet
    assert parser.parse_args([*base, "-q"]).quiet is True
    assert parser.parse_args(["diff", "a.gpkg", "b.gpkg", "-v"]).verbose == 1
