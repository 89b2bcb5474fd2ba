"""Enumeration of connected candidate grids."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest

from gridder.partition.sets import SetBudgetExceededError, enumerate_connected_sets


def brute_force(g: nx.Graph, value: list[int], high: int, max_size: int) -> set[tuple[int, ...]]:
    out = set()
    for k in range(1, max_size + 1):
        for s in itertools.combinations(sorted(g.nodes), k):
            if (k == 1 or sum(value[u] for u in s) <= high) and nx.is_connected(g.subgraph(s)):
                out.add(s)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_enumeration_is_exact_and_unique(seed: int) -> None:
    g = nx.gnm_random_graph(9, 14, seed=seed)
    value = [(7 * u + seed) % 5 + 1 for u in range(9)]
    adj = {u: sorted(g.neighbors(u)) for u in g.nodes}
    sets = enumerate_connected_sets(list(g.nodes), adj, value, high=9, max_size=4, budget=10_000)
    assert len(sets) == len(set(sets))  # each set once
    assert set(sets) == brute_force(g, value, 9, 4)


def test_singletons_above_high_are_listed() -> None:
    sets = enumerate_connected_sets(
        [0, 1], {0: [1], 1: [0]}, [500, 10], high=300, max_size=3, budget=100
    )
    assert sorted(sets) == [(0,), (1,)]


def test_budget() -> None:
    g = nx.complete_graph(12)
    adj = {u: sorted(g.neighbors(u)) for u in g.nodes}
    with pytest.raises(SetBudgetExceededError):
        enumerate_connected_sets(list(g.nodes), adj, [1] * 12, high=100, max_size=12, budget=50)
