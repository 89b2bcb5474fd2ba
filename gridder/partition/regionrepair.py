"""Re-draw an out-of-band grid with the grids around it, building by building.

Pair repair (:mod:`~gridder.partition.pairrepair`) re-draws an out-of-band grid
with one neighbour. Some grids need a chain: on the Helsinki demo a
187-household tower touches one grid only, and the plan that puts every grid
in band moves that tower into its neighbour, the neighbour's 116 into the
next grid, and so on through five grids. Here an out-of-band grid and every
grid within two links of it — links that are no hard barrier, since grids
exchange buildings only across those — (at most :data:`_MAX_GRIDS` grids and
150 buildings, then 300 when that fails) are re-drawn together: each building
goes to one of the region's grids, each grid stays connected (a
single-commodity flow from a root per grid), no new grid straddles a hard
barrier, and a first model maximises the grids in band; when that brought
grids into band, a second model keeps them in band and minimises the length
of boundary between the grids (compact shapes) plus the buildings that
change grid.

These models are hard for CP-SAT's tree search (it finds nothing in 60 s on
that example) and easy for its local search (0.5 s), so they run CP-SAT with
local search only (``use_ls_only``) from a complete hint (the current plan
with a spanning-tree flow per grid): one worker, a fixed seed and a
deterministic time limit, so the result is reproducible. A region is
re-drawn only when fewer of its grids are out of band.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import out_of_band_grids
from gridder.partition.cpsat import deterministic_solver
from gridder.partition.instance import PartitionInstance

__all__ = ["add_connected", "compound_ties", "repair_regions"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]

#: Region sizes tried in turn (largest number of buildings), with their share of
#: the time limit: a small region first, then a larger one.
_SIZES = ((150, 1.0), (300, 2.0))
#: Largest number of grids in one region model.
_MAX_GRIDS = 8
#: Links (grid to neighbouring grid) from the out-of-band grid that a region spans.
_HOPS = 2


def add_connected(
    model: cp_model.CpModel,
    member: Sequence[cp_model.LiteralT],
    pairs: Sequence[tuple[int, int]],
) -> tuple[list[cp_model.IntVar], dict[tuple[int, int], cp_model.IntVar]]:
    """Constrain the units with ``member`` true to be connected (when any is).

    A single-commodity flow: one root among the members sends one unit of flow
    to every other member along ``pairs`` (both directions), through members
    only.

    Parameters
    ----------
    model
        The CP-SAT model.
    member
        One literal per unit: whether it belongs to the connected set.
    pairs
        Adjacent units, as local indices.

    Returns
    -------
    tuple
        The root literals (one per unit) and the flow variable of each
        directed pair.
    """
    n = len(member)
    root = [model.new_bool_var("") for _ in range(n)]
    model.add_exactly_one(root)
    flow: dict[tuple[int, int], cp_model.IntVar] = {}
    into: list[list[cp_model.IntVar]] = [[] for _ in range(n)]
    out: list[list[cp_model.IntVar]] = [[] for _ in range(n)]
    for a, b in pairs:
        for p, q in ((a, b), (b, a)):
            f = model.new_int_var(0, n, "")
            model.add(f == 0).only_enforce_if(~member[p])
            model.add(f == 0).only_enforce_if(~member[q])
            flow[(p, q)] = f
            out[p].append(f)
            into[q].append(f)
    for i in range(n):
        model.add_implication(root[i], member[i])
        model.add(sum(into[i]) - sum(out[i]) >= 1 - n * root[i]).only_enforce_if(member[i])
    return root, flow


def _tree_hint(
    members: list[int], neighbours: list[list[int]]
) -> tuple[int, dict[tuple[int, int], int]]:
    """A root and a spanning-tree flow of a connected set (for a complete hint)."""
    inside = set(members)
    root = members[0]
    parent: dict[int, int] = {root: -1}
    order = [root]
    queue = deque([root])
    while queue:
        u = queue.popleft()
        for w in neighbours[u]:
            if w in inside and w not in parent:
                parent[w] = u
                order.append(w)
                queue.append(w)
    size = dict.fromkeys(order, 1)
    for u in reversed(order[1:]):
        size[parent[u]] += size[u]
    return root, {(parent[u], u): size[u] for u in order[1:]}


def repair_regions(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    config: PartitionConfig,
    *,
    value: IntArray,
    movable: npt.NDArray[np.bool_],
    frozen: Sequence[int] = (),
    hopeless: Sequence[int] = (),
    seed: int = 0,
    time_limit: float = 1.0,
    total_time: float = 4.0,
    max_regions: int = 4,
    together: IntArray | None = None,
    memo: dict[tuple[bytes, ...], tuple[int, ...] | None] | None = None,
) -> tuple[IntArray, int, float]:
    """Re-draw each out-of-band grid with the grids around it when that brings grids into band.

    Parameters
    ----------
    instance
        The community.
    labels
        Grid label per unit.
    config
        The band.
    value
        Balance value per unit.
    movable
        Units that may change grid (free units).
    frozen
        Labels that must not change (locked grids, single buildings above the
        maximum, kept compounds).
    hopeless
        Labels of grids known to stay out of band whatever is drawn (they hold
        a building in no connected in-band set): no region is drawn for them,
        though they may take part in another grid's region.
    seed, time_limit
        CP-SAT seed and deterministic time per region (twice that for the
        larger region).
    total_time
        Deterministic time for all regions.
    max_regions
        Largest number of region models.
    together
        Per unit, a compound part that must stay in one grid (``-1``: none;
        ``--keep-compounds``, :func:`~gridder.partition.check.kept_part_ids`):
        a part whole now stays whole (:func:`compound_ties`).
    memo
        Re-draws already made, by the grids re-drawn (their buildings, in
        region order): a region met again (a restart reaching the same grids)
        takes the answer found before instead of solving again. Read and
        filled here.

    Returns
    -------
    tuple
        The new labels, the number of regions re-drawn and the deterministic
        time used.
    """
    lab = np.asarray(labels, dtype=np.int64).copy()
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    # grids exchange buildings only across links that are no hard barrier
    soft = e[~np.asarray(instance.edge_hard, dtype=bool)]
    skip = {int(x) for x in frozen}
    done = tried = 0
    spent = 0.0
    given_up = {int(x) for x in hopeless}
    while tried < max_regions and spent < total_time:
        bad = [g for g in out_of_band_grids(lab, value, config) if g not in skip | given_up]
        if not bad:
            break
        g = bad[0]
        given_up.add(g)
        tried_units: set[int] = set()
        for max_units, share in _SIZES:
            region = _region(lab, soft, g, skip, max_units)
            units = np.flatnonzero(np.isin(lab, region))
            if len(region) < 2 or not movable[units].all() or len(units) in tried_units:
                continue
            tried_units.add(len(units))
            tried += 1
            key = tuple(np.flatnonzero(lab == h).tobytes() for h in region)
            if together is not None:  # the same grids under other compound ties: no hit
                ties = compound_ties(units, lab, together)
                key += (np.asarray(ties[0]).tobytes(), np.asarray(ties[1]).tobytes())
            if memo is not None and key in memo:
                # these very grids were re-drawn before (another attempt reached them too)
                got = memo[key]
                out = None if got is None else np.asarray([region[j] for j in got])
                used = 0.0
            else:
                out, used = _redraw(
                    instance,
                    lab,
                    units,
                    region,
                    config=config,
                    value=value,
                    seed=seed,
                    time_limit=min(share * time_limit, total_time - spent),
                    together=together,
                )
                if memo is not None:
                    index = {h: j for j, h in enumerate(region)}
                    memo[key] = None if out is None else tuple(index[int(h)] for h in out)
            spent += used
            if out is not None:
                lab[units] = out
                done += 1
                given_up.discard(g)
                break
            if spent >= total_time:
                break
    if done:
        logger.debug("%s: %d region(s) re-drawn building by building", instance.community_id, done)
    return lab, done, spent


def _region(lab: IntArray, e: IntArray, g: int, skip: set[int], max_units: int) -> list[int]:
    """Grid ``g`` and the grids within :data:`_HOPS` links ``e`` of it, as many as fit."""
    cut = e[lab[e[:, 0]] != lab[e[:, 1]]]
    a, b = lab[cut[:, 0]], lab[cut[:, 1]]
    region = [g]
    frontier = [g]
    for _ in range(_HOPS):
        nxt: list[int] = []
        for h in frontier:
            touching = np.concatenate([b[a == h], a[b == h]])
            for k in sorted(set(touching.tolist()) - skip - set(region) - set(nxt)):
                nxt.append(int(k))
        for k in nxt:
            size = int(np.isin(lab, [*region, k]).sum())
            if len(region) < _MAX_GRIDS and size <= max_units:
                region.append(k)
        frontier = [k for k in nxt if k in region]  # grow from the grids taken only
    return region


@dataclass(frozen=True)
class _Region:
    """The buildings of a region as local indices, and what the models need of them."""

    pairs: list[tuple[int, int]]
    hard: list[bool]
    length: list[int]
    val: list[int]
    now: list[int]
    k: int
    same: list[tuple[int, int]] = field(default_factory=list)
    pinned: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.val)

    def neighbours(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.n)]
        for a, b in self.pairs:
            out[a].append(b)
            out[b].append(a)
        return out

    def out_of_band(self, assign: Sequence[int], config: PartitionConfig) -> int:
        totals = [0] * self.k
        for v, j in zip(self.val, assign, strict=True):
            totals[j] += v
        return sum(not config.in_band(t) for t in totals)


def _model(
    r: _Region, start: Sequence[int], config: PartitionConfig, *, keep_in_band: int | None
) -> tuple[cp_model.CpModel, list[list[cp_model.IntVar]]]:
    """The region model, hinted completely with the assignment ``start``.

    Without ``keep_in_band`` it maximises the grids in band (nothing else: a
    second term, such as the buildings moved, makes the local search find
    the chains less often: over 7 seeds of the Helsinki demo's larger
    community, 4 grids stayed out of band instead of 8); with it, at least
    that many grids must be in band, and it minimises the boundary between
    grids (metres, for compact shapes) plus the buildings moved.
    """
    n, k = r.n, r.k
    neighbours = r.neighbours()
    m = cp_model.CpModel()
    x = [[m.new_bool_var("") for _ in range(k)] for _ in range(n)]
    hint: list[tuple[cp_model.IntVar, int]] = []
    for i in range(n):
        m.add_exactly_one(x[i])
        hint.extend((x[i][j], int(start[i] == j)) for j in range(k))
    in_band = []
    for j in range(k):
        member = [x[i][j] for i in range(n)]
        m.add_bool_or(member)  # no grid vanishes
        s = cp_model.LinearExpr.weighted_sum(member, r.val)
        b = m.new_bool_var("")
        m.add(s >= config.min).only_enforce_if(b)
        m.add(s <= config.max).only_enforce_if(b)
        in_band.append(b)
        total = sum(v for v, g in zip(r.val, start, strict=True) if g == j)
        hint.append((b, int(config.in_band(total))))
        root, flow = add_connected(m, member, r.pairs)
        top, tree = _tree_hint([i for i in range(n) if start[i] == j], neighbours)
        hint.extend((root[i], int(i == top)) for i in range(n))
        hint.extend((f, tree.get(pq, 0)) for pq, f in flow.items())
    for a, b in r.same:  # a compound part kept whole stays in one grid
        for j in range(k):
            m.add(x[a][j] == x[b][j])
    for i in r.pinned:
        m.add(x[i][r.now[i]] == 1)
    # hard barriers inside a grid now may stay inside it; no grid gains one
    for q, (a, b) in enumerate(r.pairs):
        if r.hard[q] and r.now[a] != r.now[b]:
            for j in range(k):
                m.add_bool_or([x[a][j].Not(), x[b][j].Not()])
    # compact shapes: the boundary between different grids, in metres
    cuts: list[cp_model.IntVar] = []
    weights: list[int] = []
    for q, (a, b) in enumerate(r.pairs):
        if r.length[q] <= 0:
            continue
        cut = m.new_bool_var("")
        for j in range(k):
            m.add_implication(x[a][j], cut).only_enforce_if(x[b][j].Not())
        cuts.append(cut)
        weights.append(r.length[q])
        hint.append((cut, int(start[a] != start[b])))
    moved = cp_model.LinearExpr.sum([x[i][r.now[i]].Not() for i in range(n)])
    if keep_in_band is None:  # the band alone: local search finds chains far more often so
        m.maximize(cp_model.LinearExpr.sum(in_band))
    else:
        m.add(cp_model.LinearExpr.sum(in_band) >= keep_in_band)
        m.minimize(cp_model.LinearExpr.weighted_sum(cuts, weights) + moved)
    for var, h in hint:
        m.add_hint(var, h)
    return m, x


def _solve(
    m: cp_model.CpModel, x: list[list[cp_model.IntVar]], *, seed: int, time_limit: float
) -> tuple[list[int] | None, float]:
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit, local_search=True)
    status = solver.solve(m)
    used = float(solver.deterministic_time)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, used
    return [next(j for j in range(len(row)) if solver.boolean_value(row[j])) for row in x], used


def _redraw(
    instance: PartitionInstance,
    lab: IntArray,
    units: IntArray,
    region: list[int],
    *,
    config: PartitionConfig,
    value: IntArray,
    seed: int,
    time_limit: float,
    together: IntArray | None = None,
) -> tuple[IntArray | None, float]:
    """Re-draw a region's grids on their buildings.

    First for the band (most grids in band), then, when that brought grids
    into band, for compact shapes with those grids kept in band (a quarter of
    the time). Returns the new labels of ``units`` when fewer of the region's
    grids are out of band (else ``None``), and the deterministic time used.
    """
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    local = {int(u): i for i, u in enumerate(units.tolist())}
    both = np.isin(e[:, 0], units) & np.isin(e[:, 1], units)
    grid_of = {g: j for j, g in enumerate(region)}
    same, pinned = compound_ties(units, lab, together)
    r = _Region(
        pairs=[(local[int(a)], local[int(b)]) for a, b in e[both].tolist()],
        hard=np.asarray(instance.edge_hard, dtype=bool)[both].tolist(),
        length=np.rint(np.asarray(instance.edge_length, dtype=np.float64)[both])
        .astype(np.int64)
        .tolist(),
        val=[int(value[u]) for u in units.tolist()],
        now=[grid_of[int(lab[u])] for u in units.tolist()],
        k=len(region),
        same=same,
        pinned=pinned,
    )
    before = r.out_of_band(r.now, config)
    m, x = _model(r, r.now, config, keep_in_band=None)
    chosen, used = _solve(m, x, seed=seed, time_limit=time_limit)
    if chosen is None or r.out_of_band(chosen, config) >= before:
        return None, used
    m, x = _model(r, chosen, config, keep_in_band=r.k - r.out_of_band(chosen, config))
    compact, more = _solve(m, x, seed=seed, time_limit=time_limit / 4)
    used += more
    if compact is not None and r.out_of_band(compact, config) <= r.out_of_band(chosen, config):
        chosen = compact
    return np.asarray([region[j] for j in chosen], dtype=np.int64), used


def compound_ties(
    units: IntArray, labels: IntArray, together: IntArray | None
) -> tuple[list[tuple[int, int]], list[int]]:
    """What keeps compound parts whole in a re-draw of ``units`` (local indices).

    A part that is whole now and lies entirely among ``units`` stays in one
    grid (pairs of units that must share a grid); one that reaches beyond
    them keeps the grid it has (pinned units). Parts already split are left
    alone.
    """
    if together is None:
        return [], []
    tog = np.asarray(together, dtype=np.int64)
    local = tog[units]
    same: list[tuple[int, int]] = []
    pinned: list[int] = []
    for p in np.unique(local[local >= 0]).tolist():
        inside = np.flatnonzero(local == p)
        everywhere = np.flatnonzero(tog == p)
        if len(np.unique(labels[everywhere])) > 1:
            continue
        if len(inside) == len(everywhere):
            same.extend(zip(inside[:-1].tolist(), inside[1:].tolist(), strict=True))
        else:
            pinned.extend(inside.tolist())
    return same, pinned
