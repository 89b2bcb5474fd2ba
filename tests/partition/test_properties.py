"""Property tests: the checker passes on every solve of small random connected instances."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridder.partition import GridPartitioner, PartitionConfig, check_partition

from .conftest import make_instance

CFG = PartitionConfig(time_limit=0.5)


@st.composite
def instances(draw):
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    g = nx.random_labeled_tree(n, seed=seed) if n > 1 else nx.empty_graph(1)
    extra = draw(st.integers(0, n))
    for _ in range(extra):
        a, b = rng.integers(0, n, 2)
        if a != b:
            g.add_edge(int(a), int(b))
    lumpy = draw(st.booleans())
    values = (
        rng.choice([0, 52, 104, 156, 198, 264, 330], n) if lumpy else rng.integers(0, 40, n)
    ).tolist()
    edges = list(g.edges)
    m = len(edges)
    hard = rng.random(m) < draw(st.sampled_from([0.0, 0.2]))
    comp = rng.integers(-1, 3, n).tolist()
    locked = [-1] * n
    if draw(st.booleans()) and n > 3:
        locked[0] = 9
    return make_instance(
        values,
        rng.uniform(0, 500, (n, 2)),
        edges,
        hard=hard,
        soft=[comp[a] != comp[b] for a, b in edges],
        compound=comp,
        locked=locked,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_checker_passes_on_every_solve(inst) -> None:
    res = GridPartitioner(inst, CFG).solve()
    report = check_partition(inst, res.labels, CFG)
    assert report.ok, report.violations
    assert res.out_of_band >= res.lower_bound.min_out_of_band - res.lower_bound.locked_out_of_band
