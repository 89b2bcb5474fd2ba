"""A generated city of communities, as PartitionInstances (issue 3 part 10).

A street grid of blocks (220 m pitch, 20 m streets). Blocks are gated compounds
of 18–33-storey towers (50–400 households each, plus a clubhouse or a
kindergarten with no households), old low-rise neighbourhoods (walk-ups of
6–36 households), or non-residential. Every ``comm_blocks`` blocks a major
road bounds a community (3,000–10,000 households); in some communities a
tertiary road (a hard barrier) runs through the middle.

Adjacency is built here, not by ``PartitionInstance.from_frames``: Voronoi
cells of the building points clipped to the community rectangle; two units
are adjacent when their cells share more than 0.05 m of boundary. An edge is
``street`` when its two units lie in different blocks, ``soft`` when they lie
in different compounds, ``hard`` when it crosses the tertiary road.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import shapely
from scipy.spatial import Voronoi

from gridder.partition import PartitionInstance

PITCH = 220.0
STREET = 20.0


@dataclass
class Community:
    instance: PartitionInstance
    cells: np.ndarray  # shapely polygons per unit
    unit_perimeter: np.ndarray
    block: np.ndarray


def _block(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Building positions (0..1 within the block) and households."""
    if kind == "compound":
        m = int(rng.integers(7, 13))
        storeys = rng.integers(18, 34, m)
        per_floor = rng.choice([2, 3, 4, 6, 8, 12], m, p=[0.15, 0.2, 0.3, 0.2, 0.1, 0.05])
        hh = np.clip(storeys * per_floor, 50, 400)
        extra = int(rng.integers(1, 3))
        hh = np.r_[hh, np.zeros(extra, np.int64)]
    elif kind == "lowrise":
        m = int(rng.integers(15, 35))
        hh = rng.integers(6, 37, m)
    else:
        m = int(rng.integers(2, 8))
        hh = np.zeros(m, np.int64)
    m = len(hh)
    g = math.ceil(math.sqrt(m))
    slots = rng.choice(g * g, m, replace=False)
    cell = 1.0 / g
    px = (slots % g + 0.5) * cell + rng.uniform(-0.2, 0.2, m) * cell
    py = (slots // g + 0.5) * cell + rng.uniform(-0.2, 0.2, m) * cell
    return np.c_[px, py], hh.astype(np.int64)


def _voronoi(xy: np.ndarray, poly: shapely.Polygon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(xy)
    minx, miny, maxx, maxy = poly.bounds
    span = max(maxx - minx, maxy - miny)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    far = np.array(
        [
            [cx - 10 * span, cy - 10 * span],
            [cx + 10 * span, cy - 10 * span],
            [cx + 10 * span, cy + 10 * span],
            [cx - 10 * span, cy + 10 * span],
        ]
    )
    vor = Voronoi(np.vstack([xy, far]))
    rp = vor.ridge_points
    rv = np.array(vor.ridge_vertices)
    keep = (rp[:, 0] < n) & (rp[:, 1] < n)
    rp, rv = rp[keep], rv[keep]
    segs = shapely.linestrings(np.stack([vor.vertices[rv[:, 0]], vor.vertices[rv[:, 1]]], axis=1))
    inside = shapely.intersection(segs, poly)
    ln = shapely.length(inside)
    ok = ln > 0.05
    edges = np.sort(rp[ok], axis=1)
    polys = [shapely.Polygon(vor.vertices[vor.regions[vor.point_region[i]]]) for i in range(n)]
    cells = shapely.intersection(np.array(polys, dtype=object), poly)
    return cells, edges.astype(np.int64), ln[ok]


def generate_city(
    households: int = 1_000_000, *, seed: int = 42, comm_blocks: int = 3
) -> list[Community]:
    """Communities of a generated city with about ``households`` households."""
    rng = np.random.default_rng(seed)
    kinds = ["compound", "lowrise", "other"]
    probs = [0.4, 0.45, 0.15]
    per_block = 0.4 * 11.5 * 190 + 0.45 * 25 * 21
    n_blocks = max(comm_blocks**2, int(households / per_block))
    side = math.ceil(math.sqrt(n_blocks * 1.6) / comm_blocks) * comm_blocks
    out: list[Community] = []
    total = 0
    cells_rc = [(r, c) for r in range(0, side, comm_blocks) for c in range(0, side, comm_blocks)]
    for cr, cc in cells_rc:
        if total >= households:
            break
        if True:
            xs, hs, comp, blk = [], [], [], []
            for r in range(cr, cr + comm_blocks):
                for c in range(cc, cc + comm_blocks):
                    kind = kinds[int(rng.choice(3, p=probs))]
                    pos, hh = _block(rng, kind)
                    x0, y0 = c * PITCH + STREET / 2, r * PITCH + STREET / 2
                    w = PITCH - STREET
                    xs.append(np.c_[x0 + pos[:, 0] * w, y0 + pos[:, 1] * w])
                    hs.append(hh)
                    bid = r * side + c
                    comp.append(np.full(len(hh), bid if kind == "compound" else -1))
                    blk.append(np.full(len(hh), bid))
            xy = np.vstack(xs)
            hh = np.concatenate(hs)
            compound = np.concatenate(comp).astype(np.int64)
            block = np.concatenate(blk)
            poly = shapely.box(
                cc * PITCH, cr * PITCH, (cc + comm_blocks) * PITCH, (cr + comm_blocks) * PITCH
            )
            cells, edges, ridge = _voronoi(xy, poly)
            street = block[edges[:, 0]] != block[edges[:, 1]]
            soft = compound[edges[:, 0]] != compound[edges[:, 1]]
            hard = np.zeros(len(edges), bool)
            if rng.random() < 0.3:  # a tertiary road through the middle
                xm = (cc + 1) * PITCH
                a, b = xy[edges[:, 0], 0], xy[edges[:, 1], 0]
                hard = (np.minimum(a, b) < xm) & (np.maximum(a, b) > xm)
            cid = f"C{len(out):04d}"
            inst = PartitionInstance(
                community_id=cid,
                unit_ids=np.array([f"{cid}-B{i}" for i in range(len(hh))], dtype=object),
                value=hh,
                households=hh,
                xy=xy,
                edges=edges,
                edge_length=ridge,
                edge_hard=hard,
                edge_soft=soft,
                edge_street=street,
                compound=compound,
                area=shapely.area(cells),
            )
            out.append(Community(inst, cells, shapely.length(cells), block))
            total += int(hh.sum())
    return out


def year_later(
    comms: list[Community], labels: list[np.ndarray], *, seed: int = 1
) -> tuple[list[PartitionInstance], list[np.ndarray]]:
    """The city a year later (issue 3): households +0–60% in one district, ten
    buildings demolished, six built.

    The district is the south-west quarter of the city's extent. Demolished
    buildings keep their cell with 0 households; the six new buildings are
    buildings that held no households (a new residential use) with 6–36
    households and no previous grid. Returns the instances now (``previous`` =
    the given labels, ``-1`` for the new buildings) and the previous labels.
    """
    rng = np.random.default_rng(seed)
    insts = [c.instance for c in comms]
    allxy = np.vstack([i.xy for i in insts])
    lo, hi = allxy.min(0), allxy.max(0)
    mid = lo + (hi - lo) / 2
    vals = [i.value.copy() for i in insts]
    for ci, inst in enumerate(insts):
        d = (inst.xy[:, 0] < mid[0]) & (inst.xy[:, 1] < mid[1])
        vals[ci][d] = np.rint(vals[ci][d] * rng.uniform(1.0, 1.6, int(d.sum())))
    flat = [(ci, u) for ci, inst in enumerate(insts) for u in range(inst.n)]
    occupied = [(ci, u) for ci, u in flat if vals[ci][u] > 0]
    for k in rng.choice(len(occupied), 10, replace=False).tolist():
        ci, u = occupied[k]
        vals[ci][u] = 0
    prevs = [np.asarray(lab, dtype=np.int64).copy() for lab in labels]
    empty = [(ci, u) for ci, u in flat if vals[ci][u] == 0]
    for k in rng.choice(len(empty), 6, replace=False).tolist():
        ci, u = empty[k]
        vals[ci][u] = int(rng.integers(6, 37))
        prevs[ci][u] = -1
    now = [
        replace(inst, value=v, households=v, previous=p)
        for inst, v, p in zip(insts, vals, prevs, strict=True)
    ]
    return now, prevs


if __name__ == "__main__":
    import sys

    comms = generate_city(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    hh = [int(c.instance.value.sum()) for c in comms]
    nb = sum(c.instance.n for c in comms)
    print(
        f"communities={len(comms)} buildings={nb} households={sum(hh)} "
        f"per community min={min(hh)} median={int(np.median(hh))} max={max(hh)}"
    )
