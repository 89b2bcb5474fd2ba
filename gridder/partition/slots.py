"""The slot model: household buildings in grids joined through empty buildings.

Every free household building goes to one *slot* (a grid), owned by its
largest building: slots are indexed by decreasing value and a building may
only take a slot whose owner is at least as large, which breaks the
symmetry between grids. Buildings without households join at most one slot
(or none). A slot is connected through its own nodes (single-commodity flow
from its owner), holds at most ``cap`` and is out of band unless its total
lies in ``[low, high]``.

Two callers: :mod:`~gridder.partition.exactbound` minimises the out-of-band
slots on the buildings themselves for a proven lower bound, and
:mod:`~gridder.partition.sparse` on a coarse graph (empty buildings grouped
into patches) for a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.sets import adjacency_lists

__all__ = ["SlotModel", "prune_empty_leaves", "slot_model"]


@dataclass
class SlotModel:
    """A built slot model.

    Attributes
    ----------
    model
        The CP-SAT model (no objective yet).
    x
        ``x[node, slot]``: the node is in the slot.
    owners
        The slot owners (household nodes by decreasing value).
    out
        Per slot: 1 when the slot is used and out of band.
    """

    model: cp_model.CpModel
    x: dict[tuple[int, int], cp_model.IntVar]
    owners: list[int]
    out: list[cp_model.IntVar]

    def slot_of(self, solver: cp_model.CpSolver, nodes: Sequence[int]) -> dict[int, int]:
        """The slot of each node in the solver's solution (nodes in no slot left out)."""
        got: dict[int, int] = {}
        for (u, s), var in self.x.items():
            if u in nodes and solver.boolean_value(var):
                got[u] = s
        return got


def slot_model(
    nodes: Sequence[int],
    arcs: Sequence[tuple[int, int]],
    value: npt.ArrayLike,
    *,
    low: int,
    high: int,
    cap: int,
) -> SlotModel:
    """Build the slot model over ``nodes`` linked by ``arcs`` (each pair once).

    Parameters
    ----------
    nodes
        Node ids (household nodes: value > 0; the others join at most one slot).
    arcs
        Undirected links between nodes.
    value
        Value per node id.
    low, high
        The band.
    cap
        Largest slot value allowed.
    """
    val = np.asarray(value, dtype=np.int64)
    owners = sorted((int(u) for u in nodes if val[u] > 0), key=lambda u: (-int(val[u]), u))
    rank = {u: i for i, u in enumerate(owners)}
    slots = len(owners)
    m = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for u in nodes:
        allowed = range(rank[u] + 1) if u in rank else range(slots)
        for s in allowed:
            x[u, s] = m.new_bool_var("")
        if u in rank:
            m.add_exactly_one(x[u, s] for s in allowed)
        else:
            m.add_at_most_one(x[u, s] for s in allowed)
    for u in owners:  # a slot exists only with its owner, its largest building
        for s in range(rank[u]):
            m.add_implication(x[u, s], x[owners[s], s])
    both = [(int(a), int(b)) for a, b in arcs] + [(int(b), int(a)) for a, b in arcs]
    size = len(nodes)
    for s in range(slots):
        root = owners[s]
        inflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in nodes}
        outflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in nodes}
        for a, b in both:
            if b == root or (a, s) not in x or (b, s) not in x:
                continue
            f = m.new_int_var(0, size, "")
            m.add(f == 0).only_enforce_if(x[a, s].Not())
            m.add(f == 0).only_enforce_if(x[b, s].Not())
            outflow[a].append(f)
            inflow[b].append(f)
        for u in nodes:
            if u != root and (u, s) in x:
                m.add(sum(inflow[u]) - sum(outflow[u]) == x[u, s])
    out: list[cp_model.IntVar] = []
    for s in range(slots):
        total = sum(int(val[u]) * x[u, s] for u in owners if (u, s) in x)
        used = x[owners[s], s]
        inside = m.new_bool_var("")
        m.add_implication(inside, used)
        m.add(total <= cap)
        m.add(total >= low).only_enforce_if(inside)
        m.add(total <= high).only_enforce_if(inside)
        bad = m.new_bool_var("")
        m.add(bad >= used - inside)
        out.append(bad)
    return SlotModel(model=m, x=x, owners=owners, out=out)


def prune_empty_leaves(
    n: int, edges: npt.ArrayLike, value: npt.ArrayLike, free: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Free units that may join others: empty units with one live neighbour at most go, repeatedly.

    Such a unit connects nothing, so leaving it out of the slot model loses
    no plan (it joins the grid of its one neighbour afterwards).
    """
    val = np.asarray(value, dtype=np.int64)
    nbrs = adjacency_lists(n, np.asarray(edges, dtype=np.int64), free)
    alive = np.asarray(free, dtype=bool).copy()
    stack: list[int] = np.flatnonzero(alive & (val == 0)).tolist()
    while stack:
        u = stack.pop()
        if not alive[u] or val[u] != 0:
            continue
        live = sorted({w for w in nbrs[u] if alive[w]})
        if len(live) <= 1:
            alive[u] = False
            stack.extend(w for w in live if val[w] == 0)
    return alive
