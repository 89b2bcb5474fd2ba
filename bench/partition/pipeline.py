"""Partition instances built the way the real pipeline builds them.

``gridder.planning.partition_inputs`` prepares one task per community and
calls ``PartitionInstance.from_frames`` (street/compound-cut tessellation) in
a worker. This module captures those tasks through the executor interface
(so the task building is the pipeline's own code, not a copy) and rebuilds the
instances and tessellations from them, for the benchmark to run gridder and the
peers on exactly the instances gridder sees.

Instances: ``gen_RxC`` (``gridder.datasets.synthetic.generate_city(R, C,
seed=0)``; ``gen_RxC_lanes`` with the compounds' internal roads), ``helsinki``
(the demo data), ``nanjing`` (the Gulou extract, one test community = convex
hull of the residential buildings, buffered 30 m; ``nanjing_compounds`` with the
extract's residential land use polygons as compounds; ``nanjing_quads`` the
hull of every building of the extract, buffered 20 m, cut into four communities
along its bounding box's midlines — most buildings there hold no households:
shops, offices, schools, untagged), ``shanghai_gen`` (the real streets of central
Shanghai around the extract's centre, 1 km square cut into four communities of
500 m; every street block inset 8 m is a compound, with generated buildings: one
per 1,500 m², half of them towers of 60–400 households, half low-rise of 6–40; seed 0),
``hefei`` (the Hefei University of Technology extract: a campus with staff and
student housing among schools, one community = hull of every building, buffered
20 m; households estimated from footprints and heights).
"""

from __future__ import annotations

import contextlib
import pickle
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from gridder.graph.adjacency import Tessellation
from gridder.partition import PartitionConfig, PartitionInstance

OUT = Path(__file__).resolve().parents[1] / "out" / "partition_pipe"
NANJING = Path("/work/shared/data/nanjing_gulou/nanjing_gulou.gpkg")
HEFEI = Path("/work/shared/data/hefei_hfut_feicui/hefei_hfut_feicui.gpkg")
SHANGHAI = Path("/work/shared/data/shanghai_center_streets/shanghai_center_streets.gpkg")


@dataclass
class PipeCommunity:
    """One community as the pipeline sees it."""

    instance: PartitionInstance
    tess: Tessellation
    geometry: Any
    build_s: float
    streets: Any = None


class _Capture:
    """An executor that records the pipeline's tasks and runs nothing useful."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def submit(self, fn: Any, item: Any) -> Future[Any]:
        self.tasks.append(item)
        fut: Future[Any] = Future()
        fut.set_exception(_CapturedError())
        return fut

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        return None


class _CapturedError(Exception):
    """Stops the pipeline once its tasks are recorded."""


def capture_tasks(inputs: Any, config: PartitionConfig | None = None) -> list[Any]:
    """The ``CommunityTask`` objects ``partition_inputs`` would solve."""
    from gridder.planning import partition_inputs

    cap = _Capture()
    with contextlib.suppress(_CapturedError):
        partition_inputs(inputs, config or PartitionConfig(), executor=cap)  # type: ignore[arg-type]
    return cap.tasks


def build(task: Any) -> PipeCommunity:
    """``from_frames`` on one task, as ``gridder.planning._plan_community`` does."""
    t = time.perf_counter()
    inst, tess = PartitionInstance.from_frames(
        task.community_id,
        task.geometry,
        task.buildings,
        task.value,
        task.streets,
        barriers=task.barriers,
        compounds=task.compounds,
    )
    return PipeCommunity(inst, tess, task.geometry, time.perf_counter() - t, task.streets)


def _inputs_generated(bx: int, by: int, *, lanes: bool = False, seed: int = 0) -> Any:
    from gridder.datasets.synthetic import generate_city
    from gridder.prepare import prepare

    c = generate_city(bx, by, seed=seed, lanes=lanes)
    return prepare(c.communities, c.buildings, streets=c.streets, compounds=c.compounds)


def _inputs_helsinki() -> Any:
    from gridder.inputs import load_inputs

    demo = OUT / "demo" / "inputs.gpkg"
    if not demo.exists():
        import subprocess
        import sys

        subprocess.run(
            [sys.executable, "-m", "gridder", "-q", "demo", "--out", str(demo.parent)],
            check=True,
            capture_output=True,
        )
    return load_inputs(
        communities=f"{demo}:communities",
        buildings=f"{demo}:buildings",
        streets=f"{demo}:streets",
    )


def _inputs_osm(
    source: Path, tag: str, *, compounds: bool = False, quads: bool = False, whole: bool = False
) -> Any:
    """Communities cut from an OpenStreetMap extract (its buildings, streets, land use).

    One community named ``tag``: the hull of the residential buildings buffered
    30 m (``whole``: of every building, buffered 20 m); ``quads``: the hull of
    every building cut into four along its bounding box's midlines, named after
    the tag's prefix (``NJ-SW`` …).
    """
    import pyogrio

    from gridder.inputs import load_inputs

    OUT.mkdir(parents=True, exist_ok=True)
    name = source.stem
    prefix = tag.split("-", maxsplit=1)[0]
    b = pyogrio.read_dataframe(source, layer="buildings")
    metric = b.estimate_utm_crs()
    bm = b.to_crs(metric)
    kind = b["building"].astype(str) if "building" in b.columns else None
    res = bm if kind is None else bm[kind.isin(["apartments", "residential", "house", "dormitory"])]
    hull = (bm if whole else res).geometry.union_all().convex_hull.buffer(20 if whole else 30)
    comm = gpd.GeoDataFrame(
        {"community_id": [tag], "name": [f"{name} test community"]},
        geometry=[hull],
        crs=metric,
    ).to_crs(4326)
    path = OUT / f"{name}_community.gpkg"
    if quads:  # four communities: the hull cut along its bounding box's midlines
        import shapely

        hull = bm.geometry.union_all().convex_hull.buffer(20)  # every building's hull
        x0, y0, x1, y1 = hull.bounds
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        boxes = [(x0, y0, xm, ym), (xm, y0, x1, ym), (x0, ym, xm, y1), (xm, ym, x1, y1)]
        comm = gpd.GeoDataFrame(
            {"community_id": [f"{prefix}-{q}" for q in ("SW", "SE", "NW", "NE")]},
            geometry=[hull.intersection(shapely.box(*bb)) for bb in boxes],
            crs=metric,
        ).to_crs(4326)
        path = OUT / f"{name.split('_')[0]}_quads.gpkg"
    comm.to_file(path, layer="communities", driver="GPKG")
    if "osm_type" in b.columns:
        ids = b["osm_type"].astype(str) + "/" + b["osm_id"].astype(str)
    else:  # the GDAL OSM-driver layout: ways in osm_way_id, the rest in osm_id
        ids = b["osm_way_id"].fillna(b["osm_id"]).fillna(b.index.to_series().astype(str))
        ids = ids.astype(str) + "/" + b.index.astype(str)
    b = b.assign(building_id=ids)
    b.to_file(path, layer="buildings", driver="GPKG")
    comp = None
    if compounds:  # the extract's residential land use polygons as compounds (小区)
        land = pyogrio.read_dataframe(source, layer="landuse")
        land = land[land["landuse"] == "residential"].reset_index(drop=True)
        land["compound_id"] = [f"{prefix}-R{i:02d}" for i in range(len(land))]
        land[["compound_id", "geometry"]].to_file(path, layer="compounds", driver="GPKG")
        comp = f"{path}:compounds"
    return load_inputs(
        communities=f"{path}:communities",
        buildings=f"{path}:buildings",
        streets=f"{source}:streets",
        compounds=comp,
    )


def _inputs_shanghai() -> Any:
    import numpy as np
    import pyogrio
    import shapely

    from gridder.inputs import load_inputs

    OUT.mkdir(parents=True, exist_ok=True)
    streets = pyogrio.read_dataframe(SHANGHAI, layer="streets")
    metric = streets.estimate_utm_crs()
    lines = np.asarray(streets.to_crs(metric).geometry.values, dtype=object)
    c = shapely.centroid(shapely.union_all(lines))
    x, y, half = c.x, c.y, 500.0
    area = shapely.box(x - half, y - half, x + half, y + half)
    cut = shapely.intersection(lines, area)
    noded = shapely.union_all([*cut[~shapely.is_empty(cut)], area.boundary])
    blocks = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    blocks = blocks[shapely.area(blocks) > 2000]
    comps = shapely.get_parts(shapely.buffer(blocks, -8, join_style="mitre"))
    comps = comps[shapely.area(comps) > 500]
    rng = np.random.default_rng(0)
    pts: list[Any] = []
    owner: list[int] = []
    for k, cp in enumerate(comps.tolist()):
        want = max(1, int(cp.area / 1500))
        inner = shapely.buffer(cp, -3)
        inner = cp if inner.is_empty else inner
        x0, y0, x1, y1 = inner.bounds
        got: list[Any] = []
        while len(got) < want:
            xy = rng.uniform((x0, y0), (x1, y1), (4 * want, 2))
            got += list(xy[shapely.contains_xy(inner, xy[:, 0], xy[:, 1])])
        pts += got[:want]
        owner += [k] * want
    xy = np.asarray(pts)
    tower = rng.random(len(xy)) < 0.5
    households = np.where(tower, rng.integers(60, 401, len(xy)), rng.integers(6, 41, len(xy)))
    path = OUT / "shanghai_gen.gpkg"
    quads = [
        ("SH-SW", (x - half, y - half, x, y)),
        ("SH-SE", (x, y - half, x + half, y)),
        ("SH-NW", (x - half, y, x, y + half)),
        ("SH-NE", (x, y, x + half, y + half)),
    ]
    gpd.GeoDataFrame(
        {"community_id": [q for q, _ in quads]},
        geometry=[shapely.box(*bb) for _, bb in quads],
        crs=metric,
    ).to_crs(4326).to_file(path, layer="communities", driver="GPKG")
    gpd.GeoDataFrame(
        {
            "building_id": [f"SH{i:05d}" for i in range(len(xy))],
            "households": households,
            "compound_id": [f"K{k:04d}" for k in owner],
        },
        geometry=shapely.points(xy),
        crs=metric,
    ).to_crs(4326).to_file(path, layer="buildings", driver="GPKG")
    gpd.GeoDataFrame(
        {"compound_id": [f"K{k:04d}" for k in range(len(comps))]},
        geometry=list(comps),
        crs=metric,
    ).to_crs(4326).to_file(path, layer="compounds", driver="GPKG")
    return load_inputs(
        communities=f"{path}:communities",
        buildings=f"{path}:buildings",
        streets=f"{SHANGHAI}:streets",
        compounds=f"{path}:compounds",
    )


def load_instances(name: str, *, cache: bool = True) -> list[PipeCommunity]:
    """Instances of a named benchmark city, built through the pipeline (cached)."""
    path = OUT / f"{name}.pkl"
    if cache and path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)  # type: ignore[no-any-return]
    if name.startswith("gen_"):
        # gen_<bx>x<by>[_lanes][_s<seed>]: the generated city, with internal roads, its seed
        size, *rest = name[4:].split("_")
        bx, by = (int(x) for x in size.split("x"))
        seeds = [int(r[1:]) for r in rest if r.startswith("s") and r[1:].isdigit()]
        inputs = _inputs_generated(bx, by, lanes="lanes" in rest, seed=seeds[0] if seeds else 0)
    elif name == "helsinki":
        inputs = _inputs_helsinki()
    elif name == "shanghai_gen":
        inputs = _inputs_shanghai()
    elif name in ("nanjing", "nanjing_compounds", "nanjing_quads"):
        compounds, quads = name == "nanjing_compounds", name == "nanjing_quads"
        inputs = _inputs_osm(NANJING, "NJ-GULOU", compounds=compounds, quads=quads)
    elif name == "hefei":
        inputs = _inputs_osm(HEFEI, "HF-FEICUI", whole=True)
    else:
        msg = f"unknown pipeline instance {name!r}"
        raise ValueError(msg)
    out = [build(t) for t in capture_tasks(inputs) if len(t.buildings)]
    OUT.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(out, f)
    return out


def summary(comms: list[PipeCommunity]) -> dict[str, Any]:
    """Size of an instance set."""
    return {
        "communities": len(comms),
        "buildings": int(sum(c.instance.n for c in comms)),
        "households": int(sum(int(c.instance.value.sum()) for c in comms)),
        "build_s": round(sum(c.build_s for c in comms), 2),
    }


if __name__ == "__main__":
    import sys

    # through the package module, so that the cache pickles bench.partition.pipeline's
    # classes rather than __main__'s
    from bench.partition import pipeline

    for nm in sys.argv[1:]:
        print(nm, pipeline.summary(pipeline.load_instances(nm)))
