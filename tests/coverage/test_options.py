"""Coverage options checked before any work: walking speed and minutes, finite and above 0."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gridder.cli import main
from gridder.coverage import check_thresholds, compute_coverage
from gridder.errors import InputError


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan, math.inf])
def test_bad_speed_is_an_input_error(speed: float) -> None:
    with pytest.raises(InputError, match=r"--speed-kmh: .*: expected a walking speed above 0"):
        check_thresholds([5, 15], speed)


@pytest.mark.parametrize("minutes", [[math.inf], [5, math.nan], [0], [-5], []])
def test_bad_minutes_are_an_input_error(minutes: list[float]) -> None:
    with pytest.raises(InputError, match=r"--minutes"):
        check_thresholds(minutes, 4.5)


def test_every_bad_option_is_named_at_once() -> None:
    with pytest.raises(InputError) as info:
        check_thresholds([math.inf, 5, -1], math.nan)
    assert [(p.source, p.feature) for p in info.value.problems] == [
        ("--speed-kmh", "nan"),
        ("--minutes", "inf"),
        ("--minutes", "-1"),
    ]


def test_compute_coverage_checks_them_first(synth) -> None:
    streets = synth.lattice_edges(4, 4, 100.0)
    buildings = synth.make_buildings(20, 300.0)
    facilities = synth.make_facilities({"clinic": 1}, 300.0)
    with pytest.raises(InputError, match="--speed-kmh"):
        compute_coverage(streets, buildings, facilities, speed_kmh=0.0)
    with pytest.raises(InputError, match="--minutes"):
        compute_coverage(streets, buildings, facilities, minutes=(5, math.inf))
    check_thresholds([5, 15], 4.5)  # the defaults pass


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--speed-kmh", "0", "--speed-kmh: 0.0: expected a walking speed above 0"),
        ("--speed-kmh", "nan", "--speed-kmh: nan: expected a walking speed above 0"),
        ("--speed-kmh", "-1", "--speed-kmh: -1.0: expected a walking speed above 0"),
        ("--minutes", "5,inf", "--minutes: inf: expected a number of minutes above 0"),
        ("--minutes", "nan", "--minutes: nan: expected a number of minutes above 0"),
    ],
)
def test_coverage_command_exits_2_and_writes_nothing(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    message: str,
) -> None:
    out = tmp_path / "coverage.gpkg"
    argv = ["-q", "coverage", "--plan", str(files["plan"]), "--streets", str(files["streets"])]
    argv += ["--facilities", str(files["facilities"]), f"{option}={value}", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "unexpected" not in err
    assert not out.exists()
    assert main([*argv[:-3], "--out", str(out)]) == 0  # the same command with good options
    assert out.exists()
