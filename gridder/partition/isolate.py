"""A building above the maximum forms a grid of its own: give its grid's other land away.

The solver glues buildings without households to a neighbour that holds some
(:mod:`~gridder.partition.reduce`), so the grid of a tower above the maximum
also takes the empty buildings (shops, sheds, a school) around it: a grid of
177 buildings one of which holds every household. CONTRACT §6 leaves out of
the band measures only grids that are "a single building above the maximum",
and the issue asks that such a building "forms its own grid". This step moves
the tower grid's household-less units, farthest first, into a neighbouring
grid — across a link that is no hard barrier where there is one, else across a
barrier — as long as the tower's grid stays connected; a unit reachable only
through the tower (enclosed by its cell) stays.

Balance values do not change (only units of value 0 move), so neither does
any grid's band status. Locked grids, other over-maximum grids and the tower's
own unit never receive or give units. Deterministic: units are visited by
decreasing hop distance from the tower, then by index; the receiving grid is
the one sharing the longest boundary with the unit, then the smallest label.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from gridder.partition.instance import PartitionInstance

__all__ = ["isolate_over_max"]

IntArray = npt.NDArray[np.int64]


def _connected_without(members: set[int], drop: int, nbrs: list[list[int]]) -> bool:
    """Whether ``members`` minus ``drop`` is connected (on ``nbrs``)."""
    rest = members - {drop}
    if len(rest) <= 1:
        return True
    start = next(iter(rest))
    seen = {start}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for w in nbrs[u]:
            if w in rest and w not in seen:
                seen.add(w)
                queue.append(w)
    return len(seen) == len(rest)


def isolate_over_max(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    value: npt.ArrayLike,
    over: npt.ArrayLike,
    *,
    frozen: set[int] | frozenset[int] = frozenset(),
) -> tuple[IntArray, int]:
    """Move household-less units out of the grids of buildings above the maximum.

    Parameters
    ----------
    instance
        The community (edges, hard edges, shared boundary lengths).
    labels
        Grid label per unit; every grid connected.
    value
        Balance value per unit (only units of value 0 move).
    over
        Units above the maximum, each the only valued unit of its grid.
    frozen
        Labels that neither give nor receive units (locked grids).

    Returns
    -------
    tuple
        The new labels and the number of units moved.
    """
    lab = np.asarray(labels, dtype=np.int64).copy()
    val = np.asarray(value)
    towers = [int(u) for u in np.flatnonzero(np.asarray(over, dtype=bool))]
    if not towers:
        return lab, 0
    n = instance.n
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    hard = np.asarray(instance.edge_hard, dtype=bool)
    length = np.asarray(instance.edge_length, dtype=np.float64)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    soft: list[dict[int, float]] = [{} for _ in range(n)]
    across: list[dict[int, float]] = [{} for _ in range(n)]
    for (a, b), h, w in zip(e.tolist(), hard.tolist(), length.tolist(), strict=True):
        nbrs[a].append(b)
        nbrs[b].append(a)
        side = across if h else soft
        side[a][b] = side[a].get(b, 0.0) + w
        side[b][a] = side[b].get(a, 0.0) + w
    tower_grids = {int(lab[t]) for t in towers}
    blocked = set(frozen) | tower_grids
    moved = 0
    for t in towers:
        g = int(lab[t])
        if g in frozen:
            continue
        members = {int(u) for u in np.flatnonzero(lab == g)}
        if len(members) == 1 or (val[list(members - {t})] != 0).any():
            continue  # alone already, or the grid holds other households: not this case
        # hop distance from the tower inside its grid: peel the farthest first
        hops = {t: 0}
        queue = deque([t])
        while queue:
            u = queue.popleft()
            for w in nbrs[u]:
                if w in members and w not in hops:
                    hops[w] = hops[u] + 1
                    queue.append(w)
        changed = True
        while changed and len(members) > 1:
            changed = False
            for u in sorted(members - {t}, key=lambda x: (-hops.get(x, 0), x)):
                # a neighbouring grid across a link that is no hard barrier; failing that,
                # across one (a shed beside a major street, rather than a tower grid of two)
                shared: dict[int, float] = {}
                for links in (soft[u], across[u]):
                    for w, w_len in links.items():
                        h = int(lab[w])
                        if h != g and h >= 0 and h not in blocked:
                            shared[h] = shared.get(h, 0.0) + w_len
                    if shared:
                        break
                if not shared or not _connected_without(members, u, nbrs):
                    continue
                target = min(shared, key=lambda h: (-shared[h], h))
                lab[u] = target
                members.discard(u)
                moved += 1
                changed = True
    return lab, moved
