"""The quality report of a plan agrees with its own layers (CONTRACT §6).

Findings of an outside review (session 14) that recomputed every measure from the
written grids; each test failed before its fix.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from shapely.geometry import Point, box

from gridder.cli import main
from gridder.edit import apply_edit
from gridder.errors import InputError
from gridder.io.write import read_meta

X0, Y0 = 665000.0, 3546000.0
CRS = 32650


def _inputs(d: Path, households: list[int], *, size: float = 400.0) -> tuple[Path, Path]:
    """A square community with a lattice of buildings 50 m apart (a lattice of n × n)."""
    n = round(len(households) ** 0.5)
    gpd.GeoDataFrame(
        {"community_id": ["Q"]}, geometry=[box(X0, Y0, X0 + size, Y0 + size)], crs=CRS
    ).to_file(d / "comm.gpkg")
    pts = [Point(X0 + 25 + 50 * i, Y0 + 25 + 50 * j) for i in range(n) for j in range(n)]
    gpd.GeoDataFrame(
        {"building_id": [f"q{k:03d}" for k in range(len(pts))], "households": households},
        geometry=pts,
        crs=CRS,
    ).to_file(d / "bld.gpkg")
    return d / "comm.gpkg", d / "bld.gpkg"


def _partition(comm: Path, bld: Path, out: Path, *extra: str) -> int:
    args = ["partition", "--communities", str(comm), "--buildings", str(bld), "--out", str(out)]
    return main([*args, "--workers", "1", *extra])


@pytest.fixture(scope="module")
def land_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Households plus 7.3 per hectare of land (``--area-weight 7.3``), on 64 buildings."""
    d = tmp_path_factory.mktemp("land")
    rng = np.random.default_rng(7)
    comm, bld = _inputs(d, [int(x) for x in rng.integers(20, 45, 64)])
    out = d / "plan.gpkg"
    assert _partition(comm, bld, out, "--area-weight", "7.3", "--quiet") == 0
    return out


def test_area_weight_grids_report_the_exact_land_of_their_polygons(land_plan: Path) -> None:
    """B1, B2: the land term unrounded, of each grid polygon as written (``area_m2``).

    Before, with ``--balance-on households`` each building's land term was rounded
    (a grid of 266 households on 1.7 ha read 300, in band, for 300.9), and the land
    came from the cells before the boundaries were straightened.
    """
    grids = pyogrio.read_dataframe(land_plan, layer="grids")
    exact = grids["households"] + 7.3 * grids["area_m2"] / 10_000
    np.testing.assert_allclose(grids["workload"], exact, atol=0.006)
    assert (grids["workload"] != grids["households"]).all()  # every grid holds land
    np.testing.assert_array_equal(grids["in_band"], (exact >= 200) & (exact <= 300))
    meta = read_meta(land_plan)
    q = meta["quality"]
    counted = ~grids["single_building_over_max"].astype(bool)
    assert q["in_band_share"] == pytest.approx(grids.loc[counted, "in_band"].mean())
    assert q["workload_min"] == pytest.approx(grids["workload"].min())
    assert q["workload_max"] == pytest.approx(grids["workload"].max())
    (solved,) = meta["solver"]["communities"]
    assert solved["out_of_band_exact"] == int((~grids.loc[counted, "in_band"]).sum())


def test_area_weight_table_shows_the_balanced_value(
    land_plan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """B1: the summary table's min and max are of the balanced value, not households."""
    from gridder.cli import _print_quality

    grids = pyogrio.read_dataframe(land_plan, layer="grids")
    _print_quality(read_meta(land_plan), grids)
    printed = " ".join(capsys.readouterr().out.split())
    assert "(min and max: workload)" in printed
    assert f"{grids['workload'].min():g}" in printed


def test_a_hand_edit_of_a_plan_that_weighs_land_is_refused(land_plan: Path, tmp_path: Path) -> None:
    """A hand edit measures households only: it would put land-weighted grids off silently."""
    a = pyogrio.read_dataframe(land_plan, layer="assignments")
    one = str(a["building_id"].iloc[0])
    other = next(g for g in set(a["grid_id"]) if g != a["grid_id"].iloc[0])
    out = tmp_path / "edited.gpkg"
    with pytest.raises(InputError, match=r"--area-weight 7\.3"):
        apply_edit(land_plan, move=[one], to=other, out=out)
    assert not out.exists()


def test_nothing_counted_has_no_ceiling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """B4: one building of 500 households: no grid is counted, so no share and no ceiling."""
    comm, bld = _inputs(tmp_path, [500], size=100.0)
    out = tmp_path / "plan.gpkg"
    assert _partition(comm, bld, out) == 0
    printed = " ".join(capsys.readouterr().out.split())
    meta = read_meta(out)
    assert meta["quality"]["n_counted"] == 0
    assert meta["quality"]["in_band_share"] is None
    assert meta["quality"]["in_band_ceiling"] is None
    (solved,) = meta["solver"]["communities"]
    assert solved["in_band_ceiling"] is None
    assert "n/a in band (no grid counted" in printed
    assert "allow at most 100" not in printed


def test_no_households_no_weighted_distance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """B5: a household-weighted mean over no households is undefined, not 0 m."""
    comm, bld = _inputs(tmp_path, [0] * 9, size=150.0)
    out = tmp_path / "plan.gpkg"
    assert _partition(comm, bld, out) == 0
    printed = " ".join(capsys.readouterr().out.split())
    meta = read_meta(out)
    assert meta["quality"]["weighted_distance_m"] is None
    (solved,) = meta["solver"]["communities"]
    assert solved["quality"]["weighted_distance_m"] is None
    assert "weighted distance n/a" in printed
    # the comparison's quality table says so too (not "nan")
    assert main(["diff", str(out), str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    (row,) = [line for line in lines if "weighted_distance_m" in line]
    assert row.count("n/a") == 2  # old and new
