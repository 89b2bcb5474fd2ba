"""Re-plans of the 4 × 3 test city under ``--max-moved`` caps, through the CLI.

The city of ``tests/test_planning.py`` (``generate_city(4, 3, seed=3)``) is
planned, then every building above 60 households grows by half, and the data
are re-planned without a cap and with ``--max-moved`` 0.15, 0.1 and 0.05.
Prints, per cap: grids counted, out of band, share in band, households moved
(CONTRACT §6), the worst community's moved share, the lower bound on the moves
of a plan with every grid in band, and the time::

    python -m bench.partition.replan_caps
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pyogrio

from gridder.cli import main as gridder
from gridder.datasets.synthetic import generate_city
from gridder.io.write import read_meta, write_geopackage

LAYERS = ("communities", "streets", "compounds")


def _args(inputs: Path, out: Path, *extra: str) -> list[str]:
    layers = [f"--{n}" for n in ("communities", "buildings", "streets", "compounds")]
    spec = [x for name in layers for x in (name, f"{inputs}:{name[2:]}")]
    return ["partition", *spec, "--workers", "1", "--time-limit", "2", "--out", str(out), *extra]


def main() -> None:
    d = Path(tempfile.mkdtemp(prefix="replan_caps_"))
    city = generate_city(4, 3, seed=3)
    inputs = d / "inputs.gpkg"
    write_geopackage(inputs, city.layers)
    plan = d / "plan.gpkg"
    assert gridder(["-q", *_args(inputs, plan)]) == 0
    b = pyogrio.read_dataframe(inputs, layer="buildings")
    big = b["households"] > 60
    b.loc[big, "households"] = (b.loc[big, "households"] * 1.5).round()
    changed = d / "changed.gpkg"
    kept = {n: pyogrio.read_dataframe(inputs, layer=n) for n in LAYERS}
    write_geopackage(changed, {**kept, "buildings": b})
    old = pyogrio.read_dataframe(plan, layer="assignments", read_geometry=False)
    old_grid = old.set_index("building_id")["grid_id"]
    hh = b.set_index("building_id")["households"]
    for cap in (None, "0.15", "0.1", "0.05"):
        out = d / f"replan_{cap}.gpkg"
        extra = ["--previous", str(plan)] + (["--max-moved", cap] if cap else [])
        t = time.perf_counter()
        assert gridder(["-q", *_args(changed, out, *extra)]) == 0
        wall = time.perf_counter() - t
        meta = read_meta(out)
        new = pyogrio.read_dataframe(out, layer="assignments", read_geometry=False)
        new = new.set_index("building_id")
        moved = (new["grid_id"] != old_grid.reindex(new.index)) * hh.reindex(new.index)
        by = new["community_id"]
        share = moved.groupby(by).sum() / hh.reindex(new.index).groupby(by).sum()
        q = meta["quality"]
        print(
            json.dumps(
                {
                    "max_moved": cap,
                    "grids_counted": q["n_counted"],
                    "out_of_band": round(q["n_counted"] * (1 - q["in_band_share"])),
                    "in_band": round(q["in_band_share"], 4),
                    "moved_share": round(meta["replan"]["moved_share"], 4),
                    "worst_community": round(float(share.max()), 4),
                    "moved_lower_bound": meta["replan"]["households_moved_lower_bound"],
                    "households_moved": meta["replan"]["households_moved"],
                    "wall_s": round(wall, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
