"""Tiny synthetic partition instances built in code (lattices, towers, barriers)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from gridder.partition import PartitionInstance


def make_instance(
    values: Sequence[int],
    xy: np.ndarray,
    edges: Sequence[tuple[int, int]],
    *,
    community_id: str = "C1",
    hard: Sequence[bool] | None = None,
    soft: Sequence[bool] | None = None,
    street: Sequence[bool] | None = None,
    compound: Sequence[int] | None = None,
    locked: Sequence[int] | None = None,
    previous: Sequence[int] | None = None,
) -> PartitionInstance:
    n = len(values)
    e = np.array(sorted((min(a, b), max(a, b)) for a, b in edges), dtype=np.int64).reshape(-1, 2)
    m = len(e)
    xy = np.asarray(xy, dtype=np.float64).reshape(n, 2)
    length = np.full(m, 10.0)
    return PartitionInstance(
        community_id=community_id,
        unit_ids=np.array([f"B{i}" for i in range(n)], dtype=object),
        value=np.asarray(values, dtype=np.int64),
        households=np.asarray(values, dtype=np.int64),
        xy=xy,
        edges=e,
        edge_length=length,
        edge_hard=np.zeros(m, bool) if hard is None else np.asarray(hard, bool),
        edge_soft=np.zeros(m, bool) if soft is None else np.asarray(soft, bool),
        edge_street=np.zeros(m, bool) if street is None else np.asarray(street, bool),
        compound=np.full(n, -1, np.int64) if compound is None else np.asarray(compound, np.int64),
        area=np.full(n, 100.0),
        locked=np.empty(0, np.int64) if locked is None else np.asarray(locked, np.int64),
        previous=np.empty(0, np.int64) if previous is None else np.asarray(previous, np.int64),
    )


def random_connected_edges(rng: np.random.Generator, n: int, chords: int) -> list[tuple[int, int]]:
    """A random connected graph on ``n`` units: a spanning path plus ``chords`` random links."""
    order = rng.permutation(n).tolist()
    edges = {(min(order[i], order[i + 1]), max(order[i], order[i + 1])) for i in range(n - 1)}
    for _ in range(chords):
        a, b = rng.choice(n, size=2, replace=False).tolist()
        edges.add((min(a, b), max(a, b)))
    return sorted(edges)


def small_towers_graph(rng: np.random.Generator) -> tuple[list[int], list[tuple[int, int]]]:
    """Seven units, about half empty, the rest 90–180 households, on a random connected graph."""
    n = 7
    value = [int(v) for v in rng.choice([0, 0, 0, 90, 120, 150, 180], size=n)]
    if sum(v > 0 for v in value) < 2:
        value[:2] = [120, 150]
    return value, random_connected_edges(rng, n, 3)


def _connected(members: list[int], nbrs: list[set[int]]) -> bool:
    seen, stack = {members[0]}, [members[0]]
    inside = set(members)
    while stack:
        u = stack.pop()
        for w in nbrs[u] & inside:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return len(seen) == len(members)


def brute_force_out_of_band(
    value: list[int], edges: list[tuple[int, int]], low: int, high: int, cap: int
) -> int:
    """Least out-of-band grids over every grouping (empty units may stay out)."""
    n = len(value)
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for a, b in edges:
        nbrs[a].add(b)
        nbrs[b].add(a)
    valued = [u for u in range(n) if value[u] > 0]
    empty = [u for u in range(n) if value[u] == 0]
    k = len(valued)
    best = k
    for vs in itertools.product(range(k), repeat=k):
        for es in itertools.product(range(-1, k), repeat=len(empty)):
            slot = dict(zip(valued, vs, strict=True)) | dict(zip(empty, es, strict=True))
            groups: dict[int, list[int]] = {}
            for u, s in slot.items():
                if s >= 0:
                    groups.setdefault(s, []).append(u)
            bad, ok = 0, True
            for members in groups.values():
                total = sum(value[u] for u in members)
                if total == 0:
                    continue  # empty units only: not a grid of the bound
                if total > cap or not _connected(members, nbrs):
                    ok = False
                    break
                bad += not (low <= total <= high)
            if ok:
                best = min(best, bad)
    return best


def lattice(
    nx: int,
    ny: int,
    values: Sequence[int],
    *,
    spacing: float = 20.0,
    community_id: str = "L",
    compound_block: int | None = None,
    hard_row: int | None = None,
    locked: Sequence[int] | None = None,
    previous: Sequence[int] | None = None,
) -> PartitionInstance:
    """An ``nx × ny`` lattice of units; optional compounds as square blocks and a hard row.

    ``hard_row=r`` marks the edges between rows ``r`` and ``r + 1`` as hard;
    ``compound_block=b`` puts every ``b × b`` block in one compound and marks
    edges between blocks as soft (compound edges), and those along block rows as streets.
    """
    idx = np.arange(nx * ny).reshape(ny, nx)
    xs, ys = np.meshgrid(np.arange(nx) * spacing, np.arange(ny) * spacing)
    xy = np.c_[xs.ravel(), ys.ravel()]
    edges = [(int(idx[r, c]), int(idx[r, c + 1])) for r in range(ny) for c in range(nx - 1)]
    edges += [(int(idx[r, c]), int(idx[r + 1, c])) for r in range(ny - 1) for c in range(nx)]
    edges = sorted((min(a, b), max(a, b)) for a, b in edges)
    row = lambda u: u // nx  # noqa: E731
    col = lambda u: u % nx  # noqa: E731
    hard = [hard_row is not None and {row(a), row(b)} == {hard_row, hard_row + 1} for a, b in edges]
    compound = None
    soft = None
    street = None
    if compound_block:
        cb = compound_block
        comp = [(row(u) // cb) * (nx // cb + 1) + col(u) // cb for u in range(nx * ny)]
        compound = comp
        soft = [comp[a] != comp[b] for a, b in edges]
        street = list(soft)
    return make_instance(
        list(values),
        xy,
        edges,
        community_id=community_id,
        hard=hard,
        soft=soft,
        street=street,
        compound=compound,
        locked=locked,
        previous=previous,
    )


@pytest.fixture
def make_lattice() -> Callable[..., PartitionInstance]:
    return lattice


@pytest.fixture
def smooth_lattice() -> PartitionInstance:
    rng = np.random.default_rng(3)
    return lattice(20, 15, rng.integers(1, 9, 300).tolist(), community_id="smooth")


@pytest.fixture
def lumpy_lattice() -> PartitionInstance:
    rng = np.random.default_rng(5)
    vals = rng.choice([52, 78, 104, 132, 156, 198, 264], size=64).tolist()
    return lattice(8, 8, vals, community_id="lumpy")


def compound_district(seed: int = 0, *, blocks: int = 4, block: int = 4) -> PartitionInstance:
    """A district of ``blocks × blocks`` blocks; alternate blocks are tower compounds.

    Towers hold 50–400 households (a few 0: clubhouses), low-rise blocks hold
    6–36 per building; edges between blocks are streets and compound edges.
    """
    rng = np.random.default_rng(seed)
    side = blocks * block
    vals = np.zeros(side * side, dtype=np.int64)
    for u in range(side * side):
        r, c = divmod(u, side)
        tower_block = ((r // block) + (c // block)) % 2 == 0
        if tower_block:
            vals[u] = 0 if rng.random() < 0.08 else int(rng.integers(50, 401))
        else:
            vals[u] = int(rng.integers(6, 37))
    inst = lattice(side, side, vals.tolist(), community_id=f"D{seed}", compound_block=block)
    comp = inst.compound.copy()
    for u in range(side * side):  # low-rise blocks are outside any compound
        r, c = divmod(u, side)
        if ((r // block) + (c // block)) % 2 == 1:
            comp[u] = -1
    e = inst.edges
    soft = comp[e[:, 0]] != comp[e[:, 1]]
    from dataclasses import replace

    return replace(inst, compound=comp, edge_soft=soft)


@pytest.fixture
def district() -> Callable[..., PartitionInstance]:
    return compound_district
