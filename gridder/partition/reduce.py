"""Reduce a community to the problem the optimizer solves.

Three steps, each keeping every guarantee of the original graph:

1. **Zones**: the free units (not locked, not above the maximum) split into
   the connected parts left by cutting hard-barrier edges. A zone too small
   for a grid is merged with a neighbouring zone across the barrier, and so
   is a zone whose total admits no split into in-band grids (320 households
   with a 200–300 band) when the merged total does (the only cases where a
   grid may straddle one; each grid inside a barrier still pays
   ``weights.hard_inside``; the merges are counted and reported).
2. **Super-units**: a unit holding no value (a shop, a school) is attached
   to the nearest unit holding value through a shortest-path tree, so every
   super-unit is connected and carries value.
3. **Pieces**: connected parts of one compound class (a 小区, or the units
   outside compounds). Pieces too small for a grid are folded into a
   neighbour. Pieces are partitioned first; the local search then works
   across them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from gridder.partition.check import fitting_compound_parts
from gridder.partition.config import PartitionConfig
from gridder.partition.costs import balance_value, edge_cut_cost
from gridder.partition.instance import PartitionInstance

__all__ = [
    "Neighbour",
    "Reduced",
    "components",
    "connected_parts",
    "nearest_sources",
    "reduce_instance",
    "splittable",
]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: (neighbour super-unit, cut cost to it, hard edges to it, usable for contiguity)
Neighbour = tuple[int, float, int, bool]


def components(n: int, edges: npt.NDArray[np.int64]) -> tuple[int, IntArray]:
    """Connected components of an undirected graph given as an edge array."""
    if n == 0:
        return 0, np.empty(0, dtype=np.int64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    a = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    k, lab = connected_components(a, directed=False)
    return int(k), lab.astype(np.int64)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def connected_parts(
    units: Sequence[int], neighbours: Callable[[int], Iterable[int]]
) -> list[list[int]]:
    """Connected parts of ``units`` over ``neighbours``, in breadth-first order.

    Parts come in the order of their first unit in ``units``; each part lists its
    units in the order the breadth-first search reached them.
    """
    inside = set(units)
    seen: set[int] = set()
    parts: list[list[int]] = []
    for s in units:
        if s in seen:
            continue
        part = [s]
        seen.add(s)
        queue = deque([s])
        while queue:
            a = queue.popleft()
            for b in neighbours(a):
                if b in inside and b not in seen:
                    seen.add(b)
                    part.append(b)
                    queue.append(b)
        parts.append(part)
    return parts


def _merge_small(
    n_groups: int,
    totals: npt.ArrayLike,
    pairs: npt.ArrayLike,
    weight: npt.ArrayLike,
    threshold: float,
) -> IntArray:
    """Merge groups whose total is below ``threshold`` into their neighbours.

    Smallest first; each is merged into the neighbour it shares the most
    ``weight`` with. Returns the new group of each old group (consecutive).
    """
    uf = _UnionFind(n_groups)
    totals = np.asarray(totals, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    weight = np.asarray(weight, dtype=np.float64)
    tot = {i: float(totals[i]) for i in range(n_groups)}
    # neighbour weights between current roots
    nb: dict[int, dict[int, float]] = {i: {} for i in range(n_groups)}
    for (a, b), w in zip(pairs.tolist(), weight.tolist(), strict=True):
        if a != b:
            nb[a][b] = nb[a].get(b, 0.0) + w
            nb[b][a] = nb[b].get(a, 0.0) + w
    while True:
        small = [r for r in tot if tot[r] < threshold and nb[r]]
        if not small:
            break
        r = min(small, key=lambda i: (tot[i], i))
        s = max(nb[r], key=lambda j: (nb[r][j], -j))
        uf.union(r, s)
        root, other = uf.find(r), (s if uf.find(r) == r else r)
        tot[root] = tot[r] + tot[s]
        del tot[other]
        merged = nb.pop(other)
        for j, w in merged.items():
            nb[j].pop(other, None)
            if j != root:
                nb[root][j] = nb[root].get(j, 0.0) + w
                nb[j][root] = nb[j].get(root, 0.0) + w
        nb[root].pop(root, None)
        nb[root].pop(other, None)
    roots = np.array([uf.find(i) for i in range(n_groups)], dtype=np.int64)
    _, new = np.unique(roots, return_inverse=True)
    return new.astype(np.int64)


def splittable(total: float, config: PartitionConfig) -> bool:
    """Whether a total can be split into grids that all lie in the band.

    True when some whole number ``k`` of grids has ``k·min ≤ total ≤ k·max``
    (320 households with a 200–300 band cannot: one grid is too many, two too few).
    """
    if total <= 0:
        return True
    return -(-int(total) // config.max) <= int(total) // config.min


def _in_band_estimate(total: float, config: PartitionConfig) -> int:
    """Grids a zone of this total can hold in band, at best (one fewer when not splittable)."""
    k = max(1, round(total / config.target))
    return k if splittable(total, config) else k - 1


def _merge_awkward(
    n_groups: int,
    totals: npt.ArrayLike,
    pairs: npt.ArrayLike,
    weight: npt.ArrayLike,
    config: PartitionConfig,
) -> tuple[IntArray, int]:
    """Merge groups whose total admits no in-band split with a neighbour, where that helps.

    A group is merged with the neighbour (most shared ``weight`` first) for
    which the merged total is splittable and the estimated number of in-band
    grids rises. Returns the new group of each old group and the merges made.
    """
    totals = np.asarray(totals, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    weight = np.asarray(weight, dtype=np.float64)
    uf = _UnionFind(n_groups)
    tot = {i: float(totals[i]) for i in range(n_groups)}
    nb: dict[int, dict[int, float]] = {i: {} for i in range(n_groups)}
    for (a, b), w in zip(pairs.tolist(), weight.tolist(), strict=True):
        if a != b:
            nb[a][b] = nb[a].get(b, 0.0) + w
            nb[b][a] = nb[b].get(a, 0.0) + w
    merges = 0
    while True:
        best: tuple[int, float, int, int] | None = None  # (-gain, -shared weight, r, s)
        for r in sorted(tot):
            if splittable(tot[r], config):
                continue
            for s, w in nb[r].items():
                merged = tot[r] + tot[s]
                gain = _in_band_estimate(merged, config) - (
                    _in_band_estimate(tot[r], config) + _in_band_estimate(tot[s], config)
                )
                if gain > 0 and splittable(merged, config):
                    key = (-gain, -w, r, s)
                    if best is None or key < best:
                        best = key
        if best is None:
            break
        _, _, r, s = best
        uf.union(r, s)
        root = uf.find(r)
        other = s if root == r else r
        tot[root] = tot[r] + tot[s]
        del tot[other]
        for j, w in nb.pop(other).items():
            nb[j].pop(other, None)
            if j != root:
                nb[root][j] = nb[root].get(j, 0.0) + w
                nb[j][root] = nb[j].get(root, 0.0) + w
        nb[root].pop(root, None)
        nb[root].pop(other, None)
        merges += 1
    roots = np.array([uf.find(i) for i in range(n_groups)], dtype=np.int64)
    _, new = np.unique(roots, return_inverse=True)
    return new.astype(np.int64), merges


@dataclass
class Reduced:
    """The free part of a community as connected super-units.

    Parameters
    ----------
    members
        Original unit indices of each super-unit.
    unit_super
        Super-unit of each original unit, ``-1`` for units that are not free.
    value
        Balance value per super-unit.
    xy
        Value-weighted centre per super-unit (metres, relative to the mean of
        the community's units).
    classes
        Count of member units per compound class, per super-unit.
    compound
        Compound of the super-unit's host (the member with the most value).
    neighbours
        Adjacent super-units with cut cost, hard-edge count and whether the
        adjacency may carry contiguity (a hard barrier does not, unless its
        zones had to be merged).
    region
        Region (zones merged to be partitionable) per super-unit.
    piece
        Piece (connected part of one compound class) per super-unit.
    frozen_piece
        Pieces that are a whole compound within the band (kept as one grid
        with ``keep_compounds``).
    forced_hard_merges
        Zones merged across a hard barrier because they were too small.
    attach_to_fixed
        Free units with no value and no free neighbour region, with the fixed
        (locked or over-maximum) unit they join.
    awkward_hard_merges
        Of ``forced_hard_merges``, those made because a zone's total admitted
        no split into in-band grids (e.g. 320 with a 200–300 band).
    crossed_barriers
        Per edge of the instance: a hard barrier between two zones merged into
        one region, which a grid may therefore cross.
    """

    members: list[IntArray]
    unit_super: IntArray
    value: IntArray
    xy: FloatArray
    classes: list[dict[int, int]]
    compound: IntArray
    neighbours: list[list[Neighbour]]
    region: IntArray
    piece: IntArray
    frozen_piece: set[int]
    forced_hard_merges: int
    attach_to_fixed: dict[int, int]
    awkward_hard_merges: int = 0
    crossed_barriers: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def n(self) -> int:
        """Number of super-units."""
        return len(self.members)

    def links(self, i: int) -> list[int]:
        """Neighbours of super-unit ``i`` usable for contiguity."""
        return [j for j, _, _, link in self.neighbours[i] if link]


def reduce_instance(
    instance: PartitionInstance,
    config: PartitionConfig,
    *,
    free: npt.NDArray[np.bool_],
    group: npt.ArrayLike | None = None,
    part_barriers: npt.ArrayLike | None = None,
) -> Reduced:
    """Zones, super-units and pieces of the ``free`` units of a community.

    ``part_barriers`` (a flag per edge; default: ``instance.edge_hard``) are
    the barriers that cut a compound into the parts ``--keep-compounds``
    keeps whole (:func:`~gridder.partition.check.fitting_compound_parts`):
    the community's own major streets, also when the instance solved has some
    of them joined across (the guarantee is checked on the community's).

    ``group`` (a label per unit, e.g. the grids of the plan a re-plan starts
    from; ``-1`` for none) keeps a unit holding no value with a valued unit of
    its own group where one is linked to it within the group, so that super-units
    do not straddle the grids started from (a re-plan would otherwise move such
    units for nothing); with ``config.keep_compounds`` such a unit stays within
    its compound class in the same way.
    """
    n = instance.n
    value = balance_value(instance, config)
    xy = np.asarray(instance.xy, dtype=np.float64).reshape(-1, 2)
    if n:
        xy = xy - xy.mean(axis=0)  # local coordinates keep the moment sums exact
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    hard = np.asarray(instance.edge_hard, dtype=bool)
    soft = np.asarray(instance.edge_soft, dtype=bool)
    length = np.asarray(instance.edge_length, dtype=np.float64)
    comp = np.asarray(instance.compound, dtype=np.int64)
    cut_cost = edge_cut_cost(instance, config)

    fidx = np.flatnonzero(free)
    local = np.full(n, -1, dtype=np.int64)
    local[fidx] = np.arange(len(fidx))
    both = free[e[:, 0]] & free[e[:, 1]] if len(e) else np.zeros(0, dtype=bool)
    fe = local[e[both]]
    fhard, fsoft, flen, fcost = hard[both], soft[both], length[both], cut_cost[both]
    pbar = hard if part_barriers is None else np.asarray(part_barriers, dtype=bool)
    fpart = ~pbar[both]  # links inside one compound part (keep-compounds)
    nf = len(fidx)
    fval = value[fidx]

    # 1. zones and regions
    _, zone = components(nf, fe[~fhard])
    nz = int(zone.max()) + 1 if nf else 0
    ztot = np.bincount(zone, weights=fval, minlength=nz)
    zpairs = np.stack([zone[fe[:, 0]], zone[fe[:, 1]]], axis=1) if len(fe) else np.empty((0, 2))
    cross = zpairs[:, 0] != zpairs[:, 1] if len(fe) else np.zeros(0, dtype=bool)
    zone_region = _merge_small(
        nz, ztot, zpairs[cross].astype(np.int64), flen[cross] + 1e-3, config.min
    )
    awkward = 0
    if nz:
        nr = int(zone_region.max()) + 1
        rtot_z = np.bincount(zone_region, weights=ztot, minlength=nr)
        rpairs = zone_region[zpairs[cross].astype(np.int64)]
        again, awkward = _merge_awkward(nr, rtot_z, rpairs, flen[cross] + 1e-3, config)
        zone_region = again[zone_region]
    region = zone_region[zone] if nf else np.empty(0, dtype=np.int64)
    forced_hard_merges = int(nz - (int(zone_region.max()) + 1 if nz else 0))
    if forced_hard_merges:
        logger.info(
            "%s: %d zone(s) merged across hard barriers (%d too small for a grid, "
            "%d with a total no in-band grids can split)",
            instance.community_id,
            forced_hard_merges,
            forced_hard_merges - awkward,
            awkward,
        )
    same_region = region[fe[:, 0]] == region[fe[:, 1]] if len(fe) else np.zeros(0, dtype=bool)
    across = fhard & (zone[fe[:, 0]] != zone[fe[:, 1]]) if len(fe) else np.zeros(0, dtype=bool)
    link = same_region & (~fhard | across)
    crossed = np.zeros(len(e), dtype=bool)
    crossed[np.flatnonzero(both)[same_region & across]] = True

    # 2. super-units: attach value-less units to the nearest valued unit
    host = np.arange(nf, dtype=np.int64)
    if nf and int((fval > 0).sum()) < nf:
        le = fe[link]
        d = np.hypot(*(xy[fidx[le[:, 0]]] - xy[fidx[le[:, 1]]]).T) + 0.1
        d = d * np.where(fsoft[link], 3.0, 1.0)
        kept = None
        cls = comp[fidx]
        if config.keep_compounds:
            # an empty building looks for a host within its compound *part* (one side of
            # every major street), not across a street joined for a small zone
            part, kept = fitting_compound_parts(cls, fval, fe[link & fpart], config)
            cls = np.where(cls >= 0, part, -1)
        grp = _attach_groups(
            cls,
            None if group is None else np.asarray(group, dtype=np.int64)[fidx],
            keep_compounds=config.keep_compounds,
        )
        host = _attach_hosts(nf, le, d, fval, grp=grp, kept=kept)
    _, sup = np.unique(host, return_inverse=True)
    sup = sup.astype(np.int64)
    ns = int(sup.max()) + 1 if nf else 0
    order = np.argsort(sup, kind="stable")
    bounds = np.searchsorted(sup[order], np.arange(ns + 1))
    members = [fidx[order[bounds[i] : bounds[i + 1]]] for i in range(ns)]
    sval = np.bincount(sup, weights=fval, minlength=ns).astype(np.int64)
    w = fval.astype(np.float64)
    cnt = np.bincount(sup, minlength=ns)
    fxy = xy[fidx]
    sx = np.where(
        sval > 0,
        np.bincount(sup, weights=w * fxy[:, 0], minlength=ns) / np.maximum(sval, 1),
        np.bincount(sup, weights=fxy[:, 0], minlength=ns) / np.maximum(cnt, 1),
    )
    sy = np.where(
        sval > 0,
        np.bincount(sup, weights=w * fxy[:, 1], minlength=ns) / np.maximum(sval, 1),
        np.bincount(sup, weights=fxy[:, 1], minlength=ns) / np.maximum(cnt, 1),
    )
    classes: list[dict[int, int]] = [{} for _ in range(ns)]
    for s, c in zip(sup.tolist(), comp[fidx].tolist(), strict=True):
        classes[s][c] = classes[s].get(c, 0) + 1
    hostcomp = comp[fidx[np.unique(host)]] if nf else np.empty(0, dtype=np.int64)
    sregion = np.zeros(ns, dtype=np.int64)
    sregion[sup] = region

    # super edges
    nb: list[dict[int, list[float]]] = [{} for _ in range(ns)]
    if len(fe):
        sa, sb = sup[fe[:, 0]], sup[fe[:, 1]]
        keep = (sa != sb) & same_region
        for a, b, c, h, lk in zip(
            sa[keep].tolist(),
            sb[keep].tolist(),
            fcost[keep].tolist(),
            fhard[keep].tolist(),
            link[keep].tolist(),
            strict=True,
        ):
            for x, y in ((a, b), (b, a)):
                rec = nb[x].get(y)
                if rec is None:
                    nb[x][y] = [c, float(h), float(lk)]
                else:
                    rec[0] += c
                    rec[1] += h
                    rec[2] = max(rec[2], float(lk))
    neighbours: list[list[Neighbour]] = [
        [(j, r[0], int(r[1]), bool(r[2])) for j, r in sorted(d.items())] for d in nb
    ]
    # super-unit pairs linked inside one compound part (--keep-compounds: a piece never
    # spans a part barrier, so that the pieces kept whole are the parts the check counts)
    in_part: set[tuple[int, int]] = set()
    if config.keep_compounds and len(fe):
        sa, sb = sup[fe[:, 0]], sup[fe[:, 1]]
        inside = (sa != sb) & link & fpart
        lo, hi = np.minimum(sa, sb)[inside], np.maximum(sa, sb)[inside]
        in_part = set(zip(lo.tolist(), hi.tolist(), strict=True))

    # 3. pieces: connected parts of one compound class
    pe = [
        (i, j)
        for i in range(ns)
        for j, _, _, lk in neighbours[i]
        if lk
        and j > i
        and hostcomp[i] == hostcomp[j]
        and (not config.keep_compounds or (i, j) in in_part)
    ]
    pe_arr = np.array(pe, dtype=np.int64).reshape(-1, 2)
    npc, piece = components(ns, pe_arr)
    ptot = np.bincount(piece, weights=sval, minlength=npc) if ns else np.zeros(0)
    # --keep-compounds: a connected part of one compound whose total lies in the band
    # stays whole, and no small piece is merged into it (it would mix compounds). Its
    # empty buildings joined its household buildings (``_attach_groups``); empty
    # buildings of another compound ride along only where none of that compound's
    # household buildings is linked to them (that compound holds nothing to keep)
    whole: set[int] = set()
    if config.keep_compounds and ns:
        for p in range(npc):
            ids = np.flatnonzero(piece == p)
            hostc = set(hostcomp[ids].tolist())
            if len(hostc) == 1 and next(iter(hostc)) >= 0 and config.in_band(ptot[p]):
                whole.add(p)
    ppairs = []
    pw = []
    for i in range(ns):
        for j, c, _, lk in neighbours[i]:
            if lk and j > i and piece[i] != piece[j] and not {piece[i], piece[j]} & whole:
                ppairs.append((piece[i], piece[j]))
                pw.append(c + 1e-3)
    merged = (
        _merge_small(
            npc, ptot, np.array(ppairs, dtype=np.int64).reshape(-1, 2), np.array(pw), config.min
        )
        if ns
        else np.zeros(0, dtype=np.int64)
    )
    piece = merged[piece] if ns else piece
    frozen: set[int] = {int(merged[p]) for p in whole}
    if frozen:
        piece = _join_stranded(piece, sval, neighbours, frozen, config)

    # value-less free regions with no way into a grid of their own: join a fixed unit
    attach: dict[int, int] = {}
    rtot = np.bincount(sregion, weights=sval) if ns else np.zeros(0)
    for r in np.flatnonzero(rtot == 0).tolist() if ns else []:
        ids = fidx[region == r]
        inner = np.isin(e[:, 0], ids) | np.isin(e[:, 1], ids)
        cand = e[inner].ravel()
        fixed = cand[~free[cand]]
        if len(fixed):
            target = int(fixed.min())
            for u in ids.tolist():
                attach[u] = target

    return Reduced(
        members=members,
        unit_super=_unit_super(n, fidx, sup),
        value=sval,
        xy=np.stack([sx, sy], axis=1) if ns else np.empty((0, 2)),
        classes=classes,
        compound=hostcomp.astype(np.int64),
        neighbours=neighbours,
        region=sregion,
        piece=piece.astype(np.int64),
        frozen_piece=frozen,
        forced_hard_merges=forced_hard_merges,
        attach_to_fixed=attach,
        awkward_hard_merges=awkward,
        crossed_barriers=crossed,
    )


def _join_stranded(
    piece: IntArray,
    sval: IntArray,
    neighbours: list[list[Neighbour]],
    frozen: set[int],
    config: PartitionConfig,
) -> IntArray:
    """Pieces still too small for a grid join a compound kept whole where it stays in band.

    A small piece is merged into a neighbouring piece, but not into a compound
    kept whole (``--keep-compounds``): one surrounded by such compounds would be
    a grid out of band of its own. It joins the kept compound it shares the
    most boundary with among those whose total stays within the band (the grid
    then holds two compounds; neither is split).
    """
    piece = piece.copy()
    tot = np.bincount(piece, weights=sval, minlength=int(piece.max(initial=-1)) + 1)
    for q in range(len(tot)):
        if q in frozen or tot[q] >= config.min or not (piece == q).any():
            continue
        shared: dict[int, float] = {}
        for i in np.flatnonzero(piece == q).tolist():
            for j, c, _, lk in neighbours[i]:
                f = int(piece[j])
                if lk and f in frozen and config.in_band(float(tot[f] + tot[q])):
                    shared[f] = shared.get(f, 0.0) + c + 1e-3
        if not shared:
            continue
        f = max(sorted(shared), key=lambda k: shared[k])
        piece[piece == q] = f
        tot[f] += tot[q]
        tot[q] = 0.0
    return piece


def nearest_sources(
    nf: int, le: IntArray, d: FloatArray, sources: IntArray, usable: npt.NDArray[np.bool_]
) -> IntArray:
    """Per unit, the nearest of ``sources`` over the links between ``usable`` units (-1: none)."""
    if not len(sources):
        return np.full(nf, -1, dtype=np.int64)
    keep = usable[le[:, 0]] & usable[le[:, 1]]
    a, b = le[keep, 0], le[keep, 1]
    g = coo_matrix((np.r_[d[keep], d[keep]], (np.r_[a, b], np.r_[b, a])), shape=(nf, nf)).tocsr()
    _, _, src = dijkstra(g, indices=sources, min_only=True, return_predecessors=True)
    out = np.asarray(src, dtype=np.int64)
    out[~usable] = -1
    return out


def _attach_hosts(
    nf: int,
    le: IntArray,
    d: FloatArray,
    fval: IntArray,
    *,
    grp: IntArray | None,
    kept: npt.NDArray[np.bool_] | None,
) -> IntArray:
    """The valued unit (host) each unit joins; every host's units stay connected.

    1. Within its group (``grp``, ``-1``: none), the nearest valued unit of the
       group over the group's own links.
    2. Units left: the nearest valued unit over links between units left and
       valued units — with ``kept`` (units of a compound part kept whole), never
       one of them nor through one.
    3. Units still left: the host of the nearest unit placed (so through units
       left only), whatever it is.
    4. Linked patches with no valued unit at all: one super-unit each.

    Each pass reaches a unit only through units it places itself, so a host's
    units are connected (ties of equal distances aside, as with any shortest-path
    tree).
    """
    host = np.full(nf, -1, dtype=np.int64)
    valued = fval > 0
    host[valued] = np.flatnonzero(valued)
    sources = np.flatnonzero(valued)
    if grp is not None:
        inside = (grp[le[:, 0]] == grp[le[:, 1]]) & (grp[le[:, 0]] >= 0)
        own = nearest_sources(nf, le[inside], d[inside], sources, np.ones(nf, dtype=bool))
        host = np.where(host < 0, own, host)
    left = host < 0
    free_sources = sources if kept is None else sources[~kept[sources]]
    usable = (left if kept is None else left & ~kept) | np.isin(np.arange(nf), free_sources)
    near = nearest_sources(nf, le, d, free_sources, usable)
    host = np.where(left, near, host)
    left = host < 0
    if left.any() and not left.all():
        placed = np.flatnonzero(~left)
        via = nearest_sources(nf, le, d, placed, left | ~left)
        reach = left & (via >= 0)
        host[reach] = host[via[reach]]
    left = host < 0
    if left.any():
        _, lc = components(nf, le)
        first: dict[int, int] = {}
        for i in np.flatnonzero(left).tolist():
            host[i] = first.setdefault(int(lc[i]), i)
    return host


def _attach_groups(
    compound: IntArray, group: IntArray | None, *, keep_compounds: bool
) -> IntArray | None:
    """Groups within which a unit without value looks for its host first (``-1``: none).

    The given ``group`` (a re-plan's start grids), and with ``keep_compounds``
    the compound class too: an empty building of a compound then joins a
    household building of its own compound (and one outside compounds a
    building outside them), so that a compound within the band is one piece.
    """
    if group is None and not keep_compounds:
        return None
    cls = compound + 1 if keep_compounds else np.zeros_like(compound)
    if group is None:
        return cls
    return np.where(group >= 0, group * (int(cls.max(initial=0)) + 1) + cls, -1)


def _unit_super(n: int, fidx: IntArray, sup: IntArray) -> IntArray:
    out = np.full(n, -1, dtype=np.int64)
    out[fidx] = sup
    return out
