"""Candidate grids: connected sets of super-units, enumerated and priced.

Lumpy areas (towers of 50–400 households) make the band a packing problem: a
grid holds a handful of buildings, so every connected set of at most
``max`` households can be listed and the best exact cover chosen by CP-SAT
(:mod:`gridder.partition.setpartition`). The enumeration lists each connected
set exactly once (the ESU scheme of Wernicke 2006: a set is grown only from
its smallest member, through neighbours exclusive to the newest member).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import grid_cost
from gridder.partition.reduce import Reduced

__all__ = [
    "SetBudgetExceededError",
    "adjacency_lists",
    "enumerate_connected_sets",
    "set_cost",
    "valued_adjacency",
]


IntArray = npt.NDArray[np.int64]


class SetBudgetExceededError(Exception):
    """The enumeration passed its budget (internal signal, never escapes)."""


def enumerate_connected_sets(
    units: Sequence[int],
    adjacency: dict[int, list[int]],
    value: Sequence[int] | npt.NDArray[np.int64],
    *,
    high: int,
    max_size: int,
    budget: int,
) -> list[tuple[int, ...]]:
    """Every connected set of ``units`` whose total value is at most ``high``.

    Singletons are always listed (even above ``high``), so that an exact cover
    always exists.

    Parameters
    ----------
    units
        The units to enumerate over (ids as used in ``adjacency``).
    adjacency
        Neighbours of each unit (only neighbours within ``units`` are followed).
    value
        Value of each unit, indexed by id.
    high
        Largest total value of a listed set (besides singletons).
    max_size
        Largest number of units in a set.
    budget
        Largest number of sets; :class:`SetBudgetExceededError` is raised beyond it.

    Returns
    -------
    list of tuple of int
        Sorted member tuples.
    """
    inside = set(units)
    rank = {u: i for i, u in enumerate(sorted(inside))}
    nbrs = {u: [v for v in adjacency.get(u, ()) if v in inside] for u in inside}
    out: list[tuple[int, ...]] = []

    def extend(members: list[int], ext: list[int], near: set[int], total: int, root: int) -> None:
        out.append(tuple(sorted(members)))
        if len(out) > budget:
            raise SetBudgetExceededError
        if len(members) >= max_size:
            return
        ext = list(ext)
        while ext:
            w = ext.pop()
            tw = total + value[w]
            if tw > high:
                continue
            new_ext = list(ext)
            new_near = set(near)
            for u in nbrs[w]:
                if rank[u] > rank[root] and u not in near:
                    new_ext.append(u)
                    new_near.add(u)
            extend([*members, w], new_ext, new_near, tw, root)

    for v in sorted(inside, key=lambda u: rank[u]):
        if value[v] > high:
            out.append((v,))
            continue
        ext = [u for u in nbrs[v] if rank[u] > rank[v]]
        near = {v, *nbrs[v]}
        extend([v], ext, near, int(value[v]), v)
    return out


def set_cost(
    red: Reduced,
    members: Sequence[int],
    config: PartitionConfig,
    *,
    previous: Sequence[int] | None = None,
) -> float:
    """Cost (:func:`gridder.partition.costs.grid_cost`) of a set of super-units as a grid.

    With ``previous`` (a previous label per super-unit) the value that would
    move is added, assuming the grid keeps the label most of its value held.
    """
    inset = set(members)
    tot = 0.0
    sx = sy = sxx = 0.0
    classes: set[int] = set()
    cut = 0.0
    hard = 0
    for i in members:
        v = float(red.value[i])
        x, y = float(red.xy[i, 0]), float(red.xy[i, 1])
        tot += v
        sx += v * x
        sy += v * y
        sxx += v * (x * x + y * y)
        classes.update(red.classes[i])
        for j, c, h, _ in red.neighbours[i]:
            if j in inset:
                hard += h if j > i else 0
            else:
                cut += c
    inertia = max(0.0, sxx - (sx * sx + sy * sy) / tot) if tot > 0 else 0.0
    cost = grid_cost(tot, inertia, len(classes), cut, hard, config=config)
    if previous is not None:
        votes: dict[int, float] = {}
        for i in members:
            if previous[i] >= 0:
                votes[previous[i]] = votes.get(previous[i], 0.0) + float(red.value[i])
        if votes:
            cost += config.weights.moved * (sum(votes.values()) - max(votes.values()))
    return cost


def adjacency_lists(n: int, edges: IntArray, keep: npt.NDArray[np.bool_]) -> list[list[int]]:
    """Neighbours of each of ``n`` units over ``edges`` whose two ends are both ``keep``."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in np.asarray(edges, dtype=np.int64).reshape(-1, 2).tolist():
        if keep[a] and keep[b]:
            adj[a].append(b)
            adj[b].append(a)
    return adj


def valued_adjacency(
    units: IntArray, nbrs: list[list[int]], value: IntArray
) -> dict[int, list[int]]:
    """Valued units of ``units`` adjacent directly or through value-less units of ``units``.

    A connected set of units holds a set of valued units connected in this
    graph, with the same total; and a set of valued units connected in it can
    be joined into a connected set through value-less units, again with the
    same total. Searching in-band sets here is therefore exact, and avoids
    listing the many sets that differ only in value-less units.

    Parameters
    ----------
    units
        The units considered (e.g. a zone, or every free unit).
    nbrs
        Neighbours of every unit (indexed by unit).
    value
        Balance value of every unit.

    Returns
    -------
    dict
        Sorted neighbours of each valued unit of ``units``.
    """
    inside = set(units.tolist())
    adj: dict[int, set[int]] = {int(u): set() for u in units.tolist() if value[u] > 0}
    seen: set[int] = set()
    for u in sorted(inside):
        if value[u] > 0:
            for j in nbrs[u]:
                if j in inside and value[j] > 0:
                    adj[u].add(j)
            continue
        if u in seen:
            continue
        # a connected patch of value-less units joins every valued unit around it
        patch, rim, stack = {u}, set(), [u]
        while stack:
            a = stack.pop()
            for b in nbrs[a]:
                if b not in inside:
                    continue
                if value[b] > 0:
                    rim.add(b)
                elif b not in patch:
                    patch.add(b)
                    stack.append(b)
        seen |= patch
        ring = sorted(rim)
        for i, a in enumerate(ring):
            adj[a].update(ring[:i])
            adj[a].update(ring[i + 1 :])
    return {u: sorted(v) for u, v in adj.items()}
