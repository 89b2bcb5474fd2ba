"""The four subcommands, registered on a parser as ``gridder/cli.py`` will do."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from conftest import boundary_building

from gridder.errors import InputError
from gridder.planfile import PlanFile
from gridder.workflow_cli import add_workflow_commands


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridder")
    add_workflow_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_workflow_commands(
    plan_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanFile.read(plan_copy)
    n = len(plan.grids)
    assert (
        _run(["workers", "--plan", str(plan_copy), "--workers", str(n), "--time-limit", "1"]) == 0
    )
    assert "workers layer written" in capsys.readouterr().out
    bid = boundary_building(plan, "C01-001", "C01-002")
    edited = tmp_path / "edited.gpkg"
    assert (
        _run(
            [
                "edit",
                "--plan",
                str(plan_copy),
                "--move",
                bid,
                "--to",
                "C01-002",
                "--out",
                str(edited),
            ]
        )
        == 0
    )
    assert "rebalancing" in capsys.readouterr().out
    assert _run(["diff", str(plan_copy), str(edited), "--out", str(tmp_path / "d.xlsx")]) == 0
    out = capsys.readouterr().out
    assert "buildings moved" in out and (tmp_path / "d.xlsx").is_file()
    # the changed grids' table fits 80 columns whole: no status or number cut short
    table = out[out.index("changed grids") : out.index("quality")]
    assert "…" not in table and "C01-002" in table and "changed" in table
    assert (
        _run(
            [
                "export",
                "--plan",
                str(edited),
                "--format",
                "shp",
                "--encoding",
                "gbk",
                "--out",
                str(tmp_path / "g.shp"),
            ]
        )
        == 0
    )
    assert (tmp_path / "g.cpg").read_text() == "GBK"
    assert _run(["edit", "--plan", str(edited), "--undo", "--json"]) == 0
    with pytest.raises(InputError):
        _run(["edit", "--plan", str(plan_copy), "--move", "NOPE", "--to", "C01-002"])
    with pytest.raises(SystemExit):
        _run(["edit", "--plan", str(plan_copy), "--lock", "C01-001", "--undo"])
