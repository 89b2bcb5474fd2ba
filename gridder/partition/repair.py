"""Neighbourhood repair: re-solve a few adjacent grids at once.

An out-of-band grid and the grids around it are freed and re-partitioned:
exactly by CP-SAT over their connected candidate sets where the units are
few and lumpy enough to list them, otherwise by balanced growth followed by
local search. The new grids replace the old ones only if they cost less, so
a repair never makes a plan worse. The same routine rebalances around a hand
edit (``grids=`` the edited grids).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from gridder.partition.config import PartitionConfig
from gridder.partition.grow import grow_regions
from gridder.partition.localsearch import WorkingPlan, local_search
from gridder.partition.reduce import Reduced, connected_parts
from gridder.partition.setpartition import solve_block_partition
from gridder.partition.sets import set_cost

__all__ = ["Budget", "choose_k", "connect_labels", "repair_grids", "split_oversized"]

logger = logging.getLogger(__name__)


def choose_k(total: float, config: PartitionConfig) -> int:
    """Number of grids for a total: nearest to total/target within the band's range."""
    if total <= 0:
        return 1
    low = -(-int(total) // config.max)
    high = int(total) // config.min
    k = max(1, round(total / config.target))
    if low <= high:
        return min(max(k, low), high)
    return k


@dataclass
class Budget:
    """Deterministic CP-SAT time left for one community, and what was spent."""

    left: float
    spent: float = 0.0
    calls: int = 0
    limit_hit: bool = False
    statuses: list[str] = field(default_factory=list)

    def take(self, cap: float) -> float:
        """Time for the next model (at most ``cap``); 0 when exhausted."""
        t = min(cap, self.left)
        if t <= 1e-3:
            self.limit_hit = True
            return 0.0
        return t

    def spend(self, t: float, status: str, limit_hit: bool) -> None:
        """Record one model's use."""
        self.left -= t
        self.spent += t
        self.calls += 1
        self.statuses.append(status)
        self.limit_hit |= limit_hit


def _neighbourhood(plan: WorkingPlan, g: int, rings: int, max_units: int) -> list[int]:
    hood = [g]
    seen = {g}
    for _ in range(rings):
        ring: set[int] = set()
        for h in hood:
            for u in plan.grids[h].members:
                for j in plan.links[u]:
                    lab = plan.label[j]
                    if lab >= 0 and lab not in seen and lab not in plan.fixed:
                        ring.add(lab)
        size = sum(len(plan.grids[h].members) for h in hood)
        for lab in sorted(ring, key=lambda x: (len(plan.grids[x].members), x)):
            if size + len(plan.grids[lab].members) > max_units and len(hood) > 1:
                continue
            hood.append(lab)
            seen.add(lab)
            size += len(plan.grids[lab].members)
    return hood


def repair_grids(
    plan: WorkingPlan,
    grids: Iterable[int],
    *,
    seed: int,
    budget: Budget,
    rings: int = 1,
    hops: int = 2,
    max_exact_units: int = 60,
    max_grow_units: int = 600,
    call_limit: float = 1.0,
) -> int:
    """Re-solve the neighbourhood of each grid in ``grids``; return repairs made.

    Parameters
    ----------
    plan
        The working plan, changed in place.
    grids
        Labels of the grids to repair (e.g. the out-of-band ones).
    seed
        Seed of the models and of the growth.
    budget
        CP-SAT deterministic time left.
    rings
        How many rings of neighbouring grids to take part.
    hops
        Units of neighbouring grids within this many links of the grid are
        free; the rest of each neighbouring grid moves as one block.
    max_exact_units
        Largest number of blocks given to the exact model.
    max_grow_units
        Largest neighbourhood re-grown when the exact model does not apply.
    call_limit
        Deterministic time cap of one model.
    """
    config = plan.config
    made = 0
    for g in list(grids):
        if g not in plan.grids or g in plan.fixed:
            continue
        hood = _neighbourhood(plan, g, rings, max_grow_units)
        blocks = _boundary_blocks(plan, g, hood, hops=hops)
        for fewer in range(hops - 1, 0, -1):
            if len(blocks) <= max_exact_units:
                break
            blocks = _boundary_blocks(plan, g, hood, hops=fewer)
        current = [tuple(sorted(plan.grids[h].members)) for h in hood]
        prev = plan.previous
        cur = sum(set_cost(plan.red, c, config, previous=prev) for c in current)
        new_groups: list[list[int]] | None = None
        if len(blocks) <= max_exact_units:
            t = budget.take(call_limit)
            if t > 0:
                out = solve_block_partition(
                    plan.red,
                    blocks,
                    config,
                    seed=seed + made,
                    time_limit=t,
                    current=current,
                    budget=min(1500, config.max_sets),
                    previous=prev,
                )
                if out is not None:
                    budget.spend(out.deterministic_time, out.status, out.limit_hit)
                    if out.objective < cur - 0.5:
                        new_groups = [list(x) for x in out.grids]
        if new_groups is None:
            hood = _neighbourhood(plan, g, rings, max_grow_units)
            new_groups = _regrow(plan, hood, seed=seed + made)
            if new_groups is None:
                continue
            current = [tuple(sorted(plan.grids[h].members)) for h in hood]
            cur = sum(set_cost(plan.red, c, config, previous=prev) for c in current)
            new = sum(set_cost(plan.red, c, config, previous=prev) for c in new_groups)
            if new >= cur - 0.5:
                continue
        plan.replace(hood, new_groups)
        made += 1
    return made


def _boundary_blocks(plan: WorkingPlan, g: int, hood: list[int], *, hops: int) -> list[list[int]]:
    """Blocks of a repair: free units near grid ``g``, and the connected cores of the rest."""
    inside = {u: h for h in hood for u in plan.grids[h].members}
    free = set(plan.grids[g].members)
    frontier = set(free)
    for _ in range(hops):
        nxt = {j for u in frontier for j in plan.links[u] if j in inside and j not in free}
        free |= nxt
        frontier = nxt
    blocks = [[u] for u in sorted(free)]
    for h in hood:
        rest = sorted(u for u in plan.grids[h].members if u not in free)
        blocks += [sorted(part) for part in connected_parts(rest, plan.links.__getitem__)]
    return blocks


def _regrow(plan: WorkingPlan, hood: list[int], *, seed: int) -> list[list[int]] | None:
    """Grow the union of ``hood`` afresh into balanced grids, then polish locally."""
    units = sorted(u for h in hood for u in plan.grids[h].members)
    total = float(sum(plan.red.value[u] for u in units))
    k = min(choose_k(total, plan.config), len(units))
    groups = grow_regions(plan.red, units, k, plan.config, seed=seed, iterations=30)
    sub = WorkingPlan(
        plan.red,
        plan.config,
        [-1] * plan.red.n,
        previous=plan.previous,
    )
    for i, grp in enumerate(groups):
        sub._assign(grp, i)
    local_search(sub, passes=10, units=units)
    return [sorted(st.members) for _, st in sorted(sub.grids.items())]


def connect_labels(
    red: Reduced, label: list[int], config: PartitionConfig, *, seed: int, reserved: set[int]
) -> list[int]:
    """Make start labels valid: every super-unit labelled and every grid connected.

    For each label only its connected piece with the most value keeps it; the
    other pieces and unlabelled super-units join the grid they are first
    reached from by a breadth-first search over contiguity links (so every
    grid stays connected). Areas no labelled grid reaches are grown afresh.
    """
    lab = list(label)
    links = [red.links(i) for i in range(red.n)]
    by_label: dict[int, list[int]] = {}
    for u, g in enumerate(lab):
        if g >= 0:
            by_label.setdefault(g, []).append(u)
    for _g, units in sorted(by_label.items()):
        pieces = connected_parts(units, links.__getitem__)
        if len(pieces) > 1:
            keep = max(pieces, key=lambda c: (sum(int(red.value[u]) for u in c), -min(c)))
            for comp in pieces:
                if comp is not keep:
                    for u in comp:
                        lab[u] = -1
    queue = deque(u for u in range(red.n) if lab[u] >= 0)
    while queue:
        a = queue.popleft()
        for b in links[a]:
            if lab[b] < 0:
                lab[b] = lab[a]
                queue.append(b)
    rest = [u for u in range(red.n) if lab[u] < 0]
    if rest:
        used = set(lab) | reserved
        for comp in connected_parts(rest, links.__getitem__):
            total = float(sum(int(red.value[u]) for u in comp))
            k = min(choose_k(total, config), len(comp))
            for grp in grow_regions(red, comp, k, config, seed=seed):
                g = 0
                while g in used:
                    g += 1
                used.add(g)
                for u in grp:
                    lab[u] = g
    return lab


def split_oversized(plan: WorkingPlan, *, seed: int) -> int:
    """Split grids holding enough value for two or more grids; return splits made."""
    made = 0
    for g in sorted(plan.grids):
        st = plan.grids.get(g)
        if st is None or g in plan.fixed or st.value <= plan.config.max:
            continue
        k = min(choose_k(st.value, plan.config), len(st.members))
        if k < 2:
            continue
        groups = grow_regions(plan.red, sorted(st.members), k, plan.config, seed=seed + g)
        if len(groups) > 1:
            plan.replace([g], groups)
            made += 1
    return made
