"""Exact plans of lumpy pieces are solved once per community and taken again by later solves."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gridder.partition import GridPartitioner, PartitionConfig, PartitionInstance
from gridder.partition.reduce import reduce_instance
from gridder.partition.setpartition import solve_set_partition
from gridder.partition.solver import _piece_key

from .conftest import lattice


def _towers() -> PartitionInstance:
    rng = np.random.default_rng(5)
    vals = rng.choice([52, 78, 104, 132, 156, 198, 264], size=48).tolist()
    return lattice(8, 6, vals, community_id="towers", hard_row=2)


def _zone(red, unit: int) -> list[int]:
    """The super-units linked to ``unit`` (its zone between the hard edges)."""
    seen, todo = {unit}, [unit]
    while todo:
        for j in red.links(todo.pop()):
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return sorted(seen)


def test_piece_key_names_buildings_not_reduction_indices() -> None:
    inst = _towers()
    cfg = PartitionConfig()
    free = np.ones(inst.n, dtype=bool)
    red = reduce_instance(inst, cfg, free=free)
    # another reduction of the same community: the first row's units are not free, so
    # every super-unit of the other zone gets another index
    free2 = free.copy()
    free2[:8] = False
    red2 = reduce_instance(inst, cfg, free=free2)
    far = int(np.flatnonzero([40 in m.tolist() for m in red.members])[0])
    far2 = int(np.flatnonzero([40 in m.tolist() for m in red2.members])[0])
    zone, zone2 = _zone(red, far), _zone(red2, far2)
    assert far != far2 and len(zone) == len(zone2)
    key, canon = _piece_key(red, zone)
    key2, canon2 = _piece_key(red2, zone2)
    assert key == key2 and sorted(canon) == sorted(canon2)
    # the same buildings with another household count are another piece
    values = np.asarray(inst.value).copy()
    values[40] += 1
    red3 = reduce_instance(replace(inst, value=values), cfg, free=free)
    assert _piece_key(red3, _zone(red3, far))[0] != key


def test_a_later_solve_takes_the_optimum_without_solving() -> None:
    inst = _towers()
    cfg = PartitionConfig()
    first = GridPartitioner(inst, cfg)
    first.solve()
    assert first._piece_memo  # the exact pieces of the solve were kept
    again = first._sibling(first.seed + 1)
    red = reduce_instance(inst, cfg, free=again.free)
    hits = 0
    for unit in range(red.n):
        zone = _zone(red, unit)
        if _piece_key(red, zone)[0] not in first._piece_memo or zone[0] != unit:
            continue
        got = again._exact_piece(red, zone)
        fresh = solve_set_partition(red, zone, cfg, seed=11, time_limit=5.0)
        assert got is not None and fresh is not None and fresh.status == "OPTIMAL"
        assert got.deterministic_time == 0.0  # taken, not solved
        assert abs(got.objective - fresh.objective) < 1e-6  # an optimum of this piece …
        covered = sorted(u for g in got.grids for u in g)
        assert covered == zone  # … covering exactly its units, in this reduction's indices
        hits += 1
    assert hits >= 1


def test_a_plan_cut_by_its_limit_is_taken_again_only_under_the_same_limit() -> None:
    """A FEASIBLE plan depends on the limit: kept with it, taken by a solve with the same one."""
    rng = np.random.default_rng(5)
    vals = rng.choice([23, 37, 41, 53, 67, 79, 97, 113, 131, 149], size=100).tolist()
    inst = lattice(10, 10, vals, community_id="houses")
    cfg = replace(PartitionConfig(), time_limit=0.2)  # too short for an optimum
    first = GridPartitioner(inst, cfg)
    red = reduce_instance(inst, cfg, free=first.free)
    zone = _zone(red, 0)
    got = first._exact_piece(red, zone)
    assert got is not None and got.status == "FEASIBLE"
    key = _piece_key(red, zone)[0]
    assert key not in first._piece_memo  # not an optimum: not for every limit …
    limited = [k for k in first._piece_memo if k.startswith(key)]
    assert len(limited) == 1  # … but for this one
    again = first._sibling(first.seed)  # a later solve of the community: the same limit
    taken = again._exact_piece(red, zone)
    assert taken is not None and taken.deterministic_time == 0.0
    assert taken.grids == got.grids and abs(taken.objective - got.objective) < 1e-6
    assert abs(taken.bound - got.bound) < 1e-6
