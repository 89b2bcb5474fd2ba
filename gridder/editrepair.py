"""Local repair after a hand edit: contiguity first, then the band, with the fewest moves.

After a planner moves buildings into a grid by hand (:mod:`gridder.edit`), the
grids the buildings left may fall apart or out of the band, and the grid that
received them may rise above it. :func:`repair_after_move` restores them while
leaving the rest of the plan alone:

1. **Contiguity.** A grid the buildings left that now falls into pieces keeps
   its largest piece (by value); every other piece joins the adjacent free
   grid that it fits best (in band, nearest the target). A piece that touches
   no other free grid makes the edit impossible.
2. **Band.** Within the neighbourhood (the edited grids and the grids adjacent
   to them, locked grids excluded), single buildings move across grid
   boundaries, one at a time, each time the move that lowers the total
   out-of-band value most (ties: nearer the target, fewer households). When no
   single move helps, pairs of moves are tried (a chain through a grid at the
   edge of the band). Every move keeps the giving grid connected, uses a
   boundary that is not a hard barrier, and never touches a hand-moved
   building or a locked grid.
3. **Budget.** The households moved by steps 1 and 2 never exceed the budget
   (the caller passes 3× the households of the hand move); the band repair
   stops when the next move would pass it, and the grids still out of band are
   reported.

Everything works on plain arrays (unit adjacency from the community's
tessellation, integer labels) and is deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gridder.errors import InputError

__all__ = ["RepairResult", "repair_after_move"]

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]

#: Largest number of band-repair steps.
MAX_STEPS = 200
#: First moves tried in a two-move chain.
CHAIN_WIDTH = 40


@dataclass(frozen=True)
class RepairResult:
    """What the local repair did.

    Parameters
    ----------
    labels
        Grid label per unit after the repair.
    moves
        ``(unit, from_label, to_label)`` of every repair move, in order.
    households
        Households moved by the repair.
    out_of_band
        Labels of neighbourhood grids still outside the band.
    notes
        What a planner should know, in words.
    """

    labels: IntArray
    moves: list[tuple[int, int, int]]
    households: int
    out_of_band: list[int]
    notes: list[str] = field(default_factory=list)


class _State:
    """Labels, members and values of grids, with connectivity checks."""

    def __init__(
        self,
        labels: IntArray,
        *,
        value: npt.NDArray[np.float64],
        households: IntArray,
        edges: IntArray,
        hard: npt.NDArray[np.bool_],
        band: tuple[int, int, int],
    ) -> None:
        n = len(labels)
        self.lab = labels.copy()
        self.value = value
        self.hh = households
        self.min, self.max, self.target = band
        self.nbr: list[list[int]] = [[] for _ in range(n)]
        self.soft_nbr: list[list[int]] = [[] for _ in range(n)]
        for (a, b), h in zip(edges.tolist(), hard.tolist(), strict=True):
            self.nbr[a].append(b)
            self.nbr[b].append(a)
            if not h:
                self.soft_nbr[a].append(b)
                self.soft_nbr[b].append(a)
        self.members: dict[int, set[int]] = {}
        for u, g in enumerate(self.lab.tolist()):
            self.members.setdefault(g, set()).add(u)
        self.total: dict[int, float] = {
            g: float(sum(value[u] for u in m)) for g, m in self.members.items()
        }

    def oob(self, g: int, total: float | None = None) -> float:
        """Value outside the band (0 for a single building above the maximum)."""
        v = self.total.get(g, 0.0) if total is None else total
        if v > self.max:
            carrying = [u for u in self.members.get(g, ()) if self.value[u] > 0]
            if total is None and len(carrying) == 1:
                return 0.0
            return v - self.max
        return max(0.0, self.min - v) if self.members.get(g) else 0.0

    def move(self, u: int, h: int) -> None:
        g = int(self.lab[u])
        self.members[g].discard(u)
        self.members.setdefault(h, set()).add(u)
        self.total[g] -= float(self.value[u])
        self.total[h] = self.total.get(h, 0.0) + float(self.value[u])
        self.lab[u] = h
        if not self.members[g]:
            del self.members[g]
            del self.total[g]

    def pieces(self, g: int) -> list[set[int]]:
        """Connected pieces of grid ``g`` (all edges), largest value first."""
        left = set(self.members.get(g, ()))
        out: list[set[int]] = []
        while left:
            start = min(left)
            seen = {start}
            stack = [start]
            while stack:
                u = stack.pop()
                for v in self.nbr[u]:
                    if v in left and v not in seen:
                        seen.add(v)
                        stack.append(v)
            left -= seen
            out.append(seen)
        out.sort(key=lambda p: (-sum(float(self.value[u]) for u in p), -len(p), min(p)))
        return out

    def connected_without(self, u: int) -> bool:
        """Whether ``u``'s grid stays one non-empty connected piece without ``u``."""
        g = int(self.lab[u])
        rest = self.members[g] - {u}
        if not rest:
            return False
        start = next(iter(n for n in self.nbr[u] if n in rest), None)
        if start is None:
            return False
        seen = {start}
        stack = [start]
        while stack:
            a = stack.pop()
            for b in self.nbr[a]:
                if b in rest and b not in seen:
                    seen.add(b)
                    stack.append(b)
        return len(seen) == len(rest)

    def neighbour_grids(self, units: Iterable[int], *, soft: bool = False) -> set[int]:
        adj = self.soft_nbr if soft else self.nbr
        return {int(self.lab[v]) for u in units for v in adj[u]}


Move = tuple[int, int, int]  # unit, from, to


def _candidates(st: _State, g: int, hood: set[int], frozen: set[int]) -> list[Move]:
    """Single-building moves that could bring grid ``g`` toward the band."""
    out: list[Move] = []
    members = st.members.get(g, set())
    if st.total.get(g, 0.0) > st.max:
        for u in sorted(members):
            if u in frozen or st.value[u] <= 0:
                continue
            for h in sorted({int(st.lab[v]) for v in st.soft_nbr[u]} - {g}):
                if h in hood:
                    out.append((u, g, h))
    elif st.total.get(g, 0.0) < st.min:
        border = sorted({v for u in members for v in st.soft_nbr[u] if int(st.lab[v]) != g})
        for v in border:
            h = int(st.lab[v])
            if v not in frozen and h in hood and st.value[v] > 0:
                out.append((v, h, g))
    return out


def _delta(st: _State, m: Move) -> tuple[float, float]:
    """Change of out-of-band value and of deviation from target if ``m`` is made."""
    u, g, h = m
    v = float(st.value[u])
    tg, th = st.total.get(g, 0.0), st.total.get(h, 0.0)
    d_oob = st.oob(g, tg - v) + st.oob(h, th + v) - st.oob(g) - st.oob(h)
    d_dev = (
        abs(tg - v - st.target)
        + abs(th + v - st.target)
        - abs(tg - st.target)
        - abs(th - st.target)
    )
    return d_oob, d_dev


def repair_after_move(
    *,
    labels: npt.ArrayLike,
    value: npt.ArrayLike,
    households: npt.ArrayLike,
    edges: npt.ArrayLike,
    edge_hard: npt.ArrayLike,
    band: tuple[int, int, int],
    sources: Iterable[int],
    target: int,
    pinned: Iterable[int],
    locked: Iterable[int],
    budget: int,
    unit_names: npt.ArrayLike | None = None,
    source_name: str = "edit",
) -> RepairResult:
    """Restore contiguity and the band around a hand move (see the module docstring).

    Parameters
    ----------
    labels
        Grid label per unit, the hand move already applied.
    value
        Balance value per unit (households or workload).
    households
        Households per unit (what the budget counts).
    edges, edge_hard
        Unit adjacency ``(m, 2)`` and whether each edge crosses a hard barrier.
    band
        ``(min, max, target)``.
    sources
        Labels of the grids the hand-moved units left.
    target
        Label of the grid that received them.
    pinned
        Units that must not move (the hand-moved ones).
    locked
        Labels of locked grids (never changed).
    budget
        Largest number of households the repair may move.
    unit_names
        Names of the units (``building_id``) for messages.
    source_name
        What to call the edit in messages.

    Raises
    ------
    InputError
        When a grid the buildings left falls into pieces that no other free
        grid can take, or taking them would pass the budget.
    """
    lab = np.asarray(labels, dtype=np.int64)
    names = np.asarray(unit_names if unit_names is not None else np.arange(len(lab)), dtype=object)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    st = _State(
        lab,
        value=np.asarray(value, dtype=np.float64),
        households=np.asarray(households, dtype=np.int64),
        edges=e,
        hard=np.asarray(edge_hard, dtype=bool),
        band=band,
    )
    locked_set = {int(g) for g in locked}
    frozen = {int(u) for u in pinned} | {u for g in locked_set for u in st.members.get(g, set())}
    moves: list[Move] = []
    spent = 0
    notes: list[str] = []
    focus = {int(g) for g in sources} | {int(target)}

    # 1. contiguity of the grids the buildings left
    for g in sorted({int(s) for s in sources}):
        parts = st.pieces(g)
        for piece in parts[1:]:
            options = sorted(st.neighbour_grids(piece) - {g} - locked_set)
            if not options:
                shown = ", ".join(str(names[u]) for u in sorted(piece)[:10])
                raise InputError.single(
                    source_name,
                    f"grid label {g}",
                    f"the move cuts off buildings {shown}, which touch no other free grid",
                )
            pv = sum(float(st.value[u]) for u in piece)

            def score(h: int, pv: float = pv) -> tuple[float, float, int]:
                t = st.total.get(h, 0.0) + pv
                return (st.oob(h, t) - st.oob(h), abs(t - st.target), h)

            best = min(options, key=score)
            for u in sorted(piece):
                moves.append((u, g, best))
                spent += int(st.hh[u])
                st.move(u, best)
            focus.add(best)
            notes.append(
                f"{len(piece)} building(s) cut off from their grid joined a neighbouring grid"
            )
    if spent > budget:
        raise InputError.single(
            source_name,
            "",
            f"the move splits a grid: reconnecting it moves {spent} households, more than the "
            f"{budget} allowed (3x the hand move); move a smaller or connected group instead",
        )

    # 2. the band, within the neighbourhood
    hood = (focus | st.neighbour_grids(u for g in focus for u in st.members.get(g, ()))) - (
        locked_set
    )
    hood = {g for g in hood if g in st.members}
    for _ in range(MAX_STEPS):
        bad = sorted(g for g in hood if st.oob(g) > 0)
        if not bad:
            break
        best_seq = _best_single(st, bad, hood, frozen, budget - spent)
        if best_seq is None:
            best_seq = _best_pair(st, bad, hood, frozen, budget - spent)
        if best_seq is None:
            break
        for m in best_seq:
            moves.append(m)
            spent += int(st.hh[m[0]])
            st.move(m[0], m[2])
    still = sorted(g for g in hood if st.oob(g) > 0)
    if still:
        notes.append(
            f"{len(still)} grid(s) near the edit stay outside the band: no further move "
            f"fits the budget of {budget} households"
        )
    return RepairResult(
        labels=st.lab, moves=moves, households=spent, out_of_band=still, notes=notes
    )


def _feasible(st: _State, m: Move, frozen: set[int], left: int) -> bool:
    u = m[0]
    return u not in frozen and int(st.hh[u]) <= left and st.connected_without(u)


def _key(st: _State, m: Move, d: tuple[float, float]) -> tuple[float, float, int, int, int]:
    return (d[0], d[1], int(st.hh[m[0]]), m[0], m[2])


def _best_single(
    st: _State, bad: list[int], hood: set[int], frozen: set[int], left: int
) -> list[Move] | None:
    best: tuple[tuple[float, float, int, int, int], Move] | None = None
    for g in bad:
        for m in _candidates(st, g, hood, frozen):
            d = _delta(st, m)
            if d[0] >= -1e-9:
                continue
            k = _key(st, m, d)
            if (best is None or k < best[0]) and _feasible(st, m, frozen, left):
                best = (k, m)
    return None if best is None else [best[1]]


def _best_pair(
    st: _State, bad: list[int], hood: set[int], frozen: set[int], left: int
) -> list[Move] | None:
    """Two moves that together lower the out-of-band value (a chain through a full grid)."""
    firsts: list[tuple[tuple[float, float, int, int, int], Move]] = []
    for g in bad:
        for m in _candidates(st, g, hood, frozen):
            d = _delta(st, m)
            if d[0] < 0 and not _feasible(st, m, frozen, left):
                continue
            firsts.append((_key(st, m, d), m))
    firsts.sort()
    best: tuple[tuple[float, float, int], list[Move]] | None = None
    for k1, m1 in firsts[:CHAIN_WIDTH]:
        if not _feasible(st, m1, frozen, left):
            continue
        u1, g1, h1 = m1
        st.move(u1, h1)
        try:
            worse = [g for g in (g1, h1) if st.oob(g) > 0]
            for g in worse:
                for m2 in _candidates(st, g, hood, frozen):
                    if m2[0] == u1:
                        continue
                    d2 = _delta(st, m2)
                    total = k1[0] + d2[0]
                    if total >= -1e-9:
                        continue
                    cost = int(st.hh[u1]) + int(st.hh[m2[0]])
                    k = (total, k1[1] + d2[1], cost)
                    if (best is None or k < best[0]) and _feasible(
                        st, m2, frozen, left - cost + int(st.hh[m2[0]])
                    ):
                        best = (k, [m1, m2])
        finally:
            st.move(u1, g1)
    return None if best is None else best[1]
