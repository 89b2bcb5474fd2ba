"""A working plan over super-units and the boundary local search.

:class:`WorkingPlan` keeps each grid's sufficient statistics (value, moments,
compound classes, cut, hard edges) so that the cost change of moving one
boundary unit is computed in time proportional to its degree. A move is only
made if the donor grid stays connected, so contiguity holds throughout.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import grid_cost
from gridder.partition.reduce import Reduced

__all__ = ["GridState", "WorkingPlan", "local_search"]

logger = logging.getLogger(__name__)


class GridState:
    """Sufficient statistics of one grid."""

    __slots__ = ("classes", "cost", "cut", "hard", "members", "sx", "sxx", "sy", "value")

    def __init__(self) -> None:
        self.members: set[int] = set()
        self.value = 0.0
        self.sx = 0.0
        self.sy = 0.0
        self.sxx = 0.0
        self.classes: dict[int, int] = {}
        self.cut = 0.0
        self.hard: int = 0
        self.cost = 0.0

    def inertia(self) -> float:
        """Σ value·distance² to the value-weighted centre."""
        if self.value <= 0:
            return 0.0
        return max(0.0, self.sxx - (self.sx * self.sx + self.sy * self.sy) / self.value)


class WorkingPlan:
    """Labels of super-units with incremental grid costs.

    Parameters
    ----------
    red
        The reduced community.
    config
        Band and weights.
    label
        Grid label per super-unit.
    fixed
        Labels of grids that keep every unit they hold (frozen compounds): the
        local search never moves a unit out of them, but may move a unit of
        another grid into one (a compound kept whole may take in a neighbour's
        building when that brings grids into band; mixing costs
        ``weights.mixed_compound``).
    previous
        Label per super-unit in a previous plan (``-1``: none), for the
        moved-value term of re-planning.
    reserved
        Labels that new grids must not take (locked grids, previous grids).
    blocked
        Labels no grid of this plan may take (locked grids); a grid may take
        back its previous label, which is reserved but not blocked.
    """

    def __init__(
        self,
        red: Reduced,
        config: PartitionConfig,
        label: Sequence[int],
        *,
        fixed: Iterable[int] = (),
        previous: Sequence[int] | None = None,
        reserved: Iterable[int] = (),
        blocked: Iterable[int] = (),
    ) -> None:
        self.red = red
        self.config = config
        self.label = [int(x) for x in label]
        self.fixed = set(fixed)
        self.previous = list(previous) if previous is not None else None
        self.reserved = set(reserved)
        self.blocked = set(blocked)
        self.links = [red.links(i) for i in range(red.n)]
        self.grids: dict[int, GridState] = {}
        for u, g in enumerate(self.label):
            if g >= 0:
                self._add(u, g)
        for st in self.grids.values():
            st.cost = self._cost(st)

    # -- statistics ---------------------------------------------------------
    def _state(self, g: int) -> GridState:
        st = self.grids.get(g)
        if st is None:
            st = self.grids[g] = GridState()
        return st

    def _add(self, u: int, g: int) -> None:
        """Add ``u`` to grid ``g`` (label already or about to be ``g``)."""
        red = self.red
        st = self._state(g)
        v = float(red.value[u])
        x, y = float(red.xy[u, 0]), float(red.xy[u, 1])
        st.members.add(u)
        st.value += v
        st.sx += v * x
        st.sy += v * y
        st.sxx += v * (x * x + y * y)
        for cls, k in red.classes[u].items():
            st.classes[cls] = st.classes.get(cls, 0) + k
        for j, c, h, _ in red.neighbours[u]:
            if j in st.members:
                st.cut -= c
                st.hard += h
            else:
                st.cut += c

    def _remove(self, u: int, g: int) -> None:
        red = self.red
        st = self.grids[g]
        v = float(red.value[u])
        x, y = float(red.xy[u, 0]), float(red.xy[u, 1])
        st.members.discard(u)
        st.value -= v
        st.sx -= v * x
        st.sy -= v * y
        st.sxx -= v * (x * x + y * y)
        for cls, k in red.classes[u].items():
            left = st.classes[cls] - k
            if left:
                st.classes[cls] = left
            else:
                del st.classes[cls]
        for j, c, h, _ in red.neighbours[u]:
            if j in st.members:
                st.cut += c
                st.hard -= h
            else:
                st.cut -= c
        if not st.members:
            del self.grids[g]

    def _cost(self, st: GridState) -> float:
        return grid_cost(
            st.value, st.inertia(), len(st.classes), st.cut, st.hard, config=self.config
        )

    def _moved(self, u: int, g: int) -> float:
        if self.previous is None:
            return 0.0
        p = self.previous[u]
        if p < 0 or p == g:
            return 0.0
        return float(self.config.weights.moved * self.red.value[u])

    def total_cost(self) -> float:
        """Sum of grid costs plus the moved-value term."""
        return sum(st.cost for st in self.grids.values()) + sum(
            self._moved(u, g) for u, g in enumerate(self.label) if g >= 0
        )

    def out_of_band(self) -> list[int]:
        """Labels of grids whose value is outside the band (sorted)."""
        return sorted(g for g, st in self.grids.items() if not self.config.in_band(st.value))

    def new_label(self) -> int:
        """The smallest label used by no grid and not reserved."""
        g = 0
        while g in self.grids or g in self.reserved:
            g += 1
        return g

    # -- moves --------------------------------------------------------------
    def stays_connected(self, u: int, g: int) -> bool:
        """Whether grid ``g`` stays connected (and non-empty) without ``u``."""
        members = self.grids[g].members
        inner = [j for j in self.links[u] if j in members]
        if not inner:
            return False
        if len(inner) == 1:
            return True
        want = set(inner)
        seen = {inner[0], u}
        queue = deque([inner[0]])
        want.discard(inner[0])
        while queue and want:
            a = queue.popleft()
            for b in self.links[a]:
                if b in members and b not in seen:
                    seen.add(b)
                    want.discard(b)
                    queue.append(b)
        return not want

    def move_delta(self, u: int, h: int) -> float:
        """Cost change of moving ``u`` into grid ``h`` (connectivity not checked)."""
        g = self.label[u]
        sg, sh = self.grids[g], self.grids[h]
        old = sg.cost + sh.cost + self._moved(u, g)
        self._remove(u, g)
        self._add(u, h)
        new_g = self._cost(sg) if sg.members else 0.0
        new = new_g + self._cost(sh) + self._moved(u, h)
        self._remove(u, h)
        if g not in self.grids:
            self.grids[g] = sg
        self._add(u, g)
        return new - old

    def move(self, u: int, h: int) -> None:
        """Move ``u`` into grid ``h``."""
        g = self.label[u]
        self._remove(u, g)
        self._add(u, h)
        self.label[u] = h
        if g in self.grids:
            self.grids[g].cost = self._cost(self.grids[g])
        self.grids[h].cost = self._cost(self.grids[h])

    def replace(self, old: Iterable[int], groups: Sequence[Sequence[int]]) -> None:
        """Replace grids ``old`` by new grids made of ``groups``.

        Each new grid takes the label (of the old grids, or of the previous
        plan) that most of its value held, when still free; otherwise a new one.
        """
        old = list(old)
        for g in old:
            for u in list(self.grids.get(g, GridState()).members):
                self._remove(u, g)
                self.label[u] = -1
        taken: set[int] = set()
        triples: list[tuple[float, int, int]] = []
        for i, grp in enumerate(groups):
            votes: dict[int, float] = {}
            for u in grp:
                for lab in self._label_votes(u, old):
                    votes[lab] = votes.get(lab, 0.0) + float(self.red.value[u]) + 1e-6
            triples += [(-w, lab, i) for lab, w in votes.items()]
        placed: set[int] = set()
        for _, lab, i in sorted(triples):  # most value kept first
            if i in placed or lab in taken or lab in self.grids or lab in self.blocked:
                continue
            taken.add(lab)
            placed.add(i)
            self._assign(groups[i], lab)
        pending = [grp for i, grp in enumerate(groups) if i not in placed]
        for grp in pending:
            g = self.new_label()
            while g in taken:
                self.reserved.add(g)
                g = self.new_label()
            taken.add(g)
            self._assign(grp, g)

    def _label_votes(self, u: int, old: Sequence[int]) -> list[int]:
        if self.previous is not None and self.previous[u] >= 0:
            return [self.previous[u]]
        return list(old)[:1] if old else []

    def _assign(self, grp: Iterable[int], g: int) -> None:
        for u in grp:
            self.label[u] = g
            self._add(u, g)
        self.grids[g].cost = self._cost(self.grids[g])


def local_search(
    plan: WorkingPlan,
    *,
    passes: int,
    movable: Sequence[bool] | None = None,
    focus: set[int] | None = None,
    units: Sequence[int] | None = None,
) -> tuple[int, bool]:
    """Move boundary units between grids while the total cost falls.

    Parameters
    ----------
    plan
        The working plan, changed in place.
    passes
        Largest number of passes over the units.
    movable
        Per super-unit, whether it may move (default: all not in fixed grids).
    focus
        Only consider units in, or next to, these grids (and grids they touch).
    units
        Only consider these super-units (default: all).

    Returns
    -------
    tuple of int and bool
        Number of moves made, and whether the pass limit stopped the search.
    """
    order = range(plan.red.n) if units is None else sorted(units)
    moves = 0
    for _ in range(passes):
        changed = 0
        for u in order:
            g = plan.label[u]
            if g < 0 or g in plan.fixed or (movable is not None and not movable[u]):
                continue
            cands = {plan.label[j] for j in plan.links[u]}
            cands.discard(g)
            cands.discard(-1)
            if not cands:
                continue
            if focus is not None and g not in focus and not (cands & focus):
                continue
            best_h, best_d = -1, -1e-6
            for h in sorted(cands):
                d = plan.move_delta(u, h)
                if d < best_d:
                    best_h, best_d = h, d
            if best_h >= 0 and plan.stays_connected(u, g):
                plan.move(u, best_h)
                changed += 1
        moves += changed
        if not changed:
            return moves, False
    return moves, True
