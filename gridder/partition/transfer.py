"""Transfer repair: restore the band by shifting boundary units along chains of grids.

When a few grids leave the band (households grew in one district, buildings
were demolished) the cheapest fix in moved households is rarely to redraw a
neighbourhood: it is to pass a little value from the grid that is too full
to a neighbour, which passes as much to its own neighbour, and so on until a
grid with room takes it (an *ejection chain*). Which grids pass how much is a
minimum-cost flow on the graph of adjacent grids (OR-Tools'
``SimpleMinCostFlow``: supplies are the excesses, demands the deficits, every
in-band grid may absorb up to its room or give up to its spare; one unit of
flow across one grid boundary is one household moved). The flow is then
realised with boundary units, one at a time, each move keeping its donor
connected, and the whole transfer is undone unless the plan's cost (band,
shape and moved households) falls. Contiguity therefore holds throughout.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from ortools.graph.python import min_cost_flow

from gridder.partition.localsearch import WorkingPlan

__all__ = ["transfer_repair"]

logger = logging.getLogger(__name__)

#: Cost of one household crossing one grid boundary in the flow (integer).
_HOP_COST = 10


def _grid_graph(plan: WorkingPlan) -> dict[tuple[int, int], int]:
    """Adjacent pairs of movable grids with the number of contiguity links between them."""
    pairs: dict[tuple[int, int], int] = {}
    for u, g in enumerate(plan.label):
        if g < 0 or g in plan.fixed:
            continue
        for j in plan.links[u]:
            h = plan.label[j]
            if h >= 0 and h != g and h not in plan.fixed:
                pairs[(g, h)] = pairs.get((g, h), 0) + 1
    return pairs


def _margin(plan: WorkingPlan) -> int:
    """Slack kept inside the band so that realising a flow with whole units stays in band."""
    cfg = plan.config
    val = np.asarray(plan.red.value, dtype=np.float64)
    pos = val[val > 0]
    typical = float(np.median(pos)) if len(pos) else 1.0
    return max(1, min(math.ceil(typical / 2), (cfg.max - cfg.min) // 4))


def _flows(plan: WorkingPlan, margin: int) -> list[tuple[int, int, int]] | None:
    """Household flows ``(from grid, to grid, amount)`` that bring every grid into the band."""
    cfg = plan.config
    grids = sorted(g for g in plan.grids if g not in plan.fixed)
    if len(grids) < 2:
        return None
    node = {g: i for i, g in enumerate(grids)}
    hub = len(grids)
    supply = [0] * (hub + 1)
    smcf = min_cost_flow.SimpleMinCostFlow()
    need = False
    for g in grids:
        v = plan.grids[g].value
        i = node[g]
        if v > cfg.max:
            supply[i] = math.ceil(v - cfg.max) + margin
            need = True
        elif v < cfg.min:
            supply[i] = -(math.ceil(cfg.min - v) + margin)
            need = True
        else:
            room = math.floor(cfg.max - margin - v)
            spare = math.floor(v - cfg.min - margin)
            if room > 0:
                smcf.add_arc_with_capacity_and_unit_cost(i, hub, room, 0)
            if spare > 0:
                smcf.add_arc_with_capacity_and_unit_cost(hub, i, spare, 0)
    if not need:
        return None
    supply[hub] = -sum(supply[:hub])
    big = int(sum(abs(s) for s in supply)) + 1
    arcs: list[tuple[int, int]] = []
    for (g, h), links in sorted(_grid_graph(plan).items()):
        # a long common boundary makes a transfer easier: slightly cheaper
        cost = _HOP_COST + (2 if links < 2 else 0)
        smcf.add_arc_with_capacity_and_unit_cost(node[g], node[h], big, cost)
        arcs.append((g, h))
    smcf.set_nodes_supplies(np.arange(hub + 1), np.asarray(supply, dtype=np.int64))
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        logger.debug("transfer flow: no feasible flow (status %s)", status)
        return None
    first = smcf.num_arcs() - len(arcs)
    out = []
    for k, (g, h) in enumerate(arcs):
        f = int(smcf.flow(first + k))
        if f > 0:
            out.append((g, h, f))
    return out


def _order(flows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Flows from the sources onwards (a grid passes value on after receiving it)."""
    indeg: dict[int, int] = {}
    for g, h, _ in flows:
        indeg[h] = indeg.get(h, 0) + 1
        indeg.setdefault(g, 0)
    out: list[tuple[int, int, int]] = []
    left = list(flows)
    while left:
        ready = [f for f in left if indeg[f[0]] == 0] or left[:1]  # a cycle: break it
        for f in ready:
            out.append(f)
            left.remove(f)
            indeg[f[1]] -= 1
    return out


def _centre(plan: WorkingPlan, g: int) -> tuple[float, float]:
    st = plan.grids[g]
    if st.value > 0:
        return st.sx / st.value, st.sy / st.value
    xy = plan.red.xy[sorted(st.members)]
    return float(xy[:, 0].mean()), float(xy[:, 1].mean())


def _realise(plan: WorkingPlan, g: int, h: int, amount: int, margin: int) -> list[tuple[int, int]]:
    """Move boundary units from grid ``g`` to ``h`` worth about ``amount``; return the moves."""
    red = plan.red
    moves: list[tuple[int, int]] = []
    left = float(amount)
    while left > 0 and g in plan.grids and h in plan.grids:
        cg, ch = _centre(plan, g), _centre(plan, h)
        best: tuple[float, int] | None = None
        for u in sorted(plan.grids[g].members):
            v = float(red.value[u])
            if v > left + margin or not any(plan.label[j] == h for j in plan.links[u]):
                continue
            x, y = float(red.xy[u, 0]), float(red.xy[u, 1])
            score = math.hypot(x - ch[0], y - ch[1]) - math.hypot(x - cg[0], y - cg[1])
            if plan.previous is not None and plan.previous[u] == h:
                score -= 1e6  # moving a unit back to its previous grid is free
            if (best is None or score < best[0]) and plan.stays_connected(u, g):
                best = (score, u)
        if best is None:
            break
        u = best[1]
        plan.move(u, h)
        moves.append((u, g))
        left -= float(red.value[u])
    return moves


def transfer_repair(plan: WorkingPlan, *, rounds: int = 2) -> int:
    """Bring out-of-band grids into the band by chains of boundary transfers.

    Parameters
    ----------
    plan
        The working plan, changed in place (only when its cost falls).
    rounds
        Largest number of flow-and-realise rounds.

    Returns
    -------
    int
        Number of unit moves kept.
    """
    kept = 0
    margin = _margin(plan)
    for _ in range(rounds):
        flows = _flows(plan, margin)
        if not flows:
            break
        before = plan.total_cost()
        moves: list[tuple[int, int]] = []
        for g, h, f in _order(flows):
            moves += _realise(plan, g, h, f, margin)
        if plan.total_cost() < before - 0.5:
            kept += len(moves)
            continue
        for u, g in reversed(moves):
            plan.move(u, g)
        break
    if kept:
        logger.debug("transfer repair: %d unit move(s) kept", kept)
    return kept
