"""Siting: maximal and set covering reach spopt's optimum on the same coverage matrix.

Tests marked ``spopt`` compare with spopt (PuLP/CBC); spopt must be installed (it is in
the ``bench`` extra). Solver time limits stay at 2 s.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from gridder.coverage.siting import (
    network_candidates,
    site_facilities,
    solve_max_cover,
    solve_set_cover,
)
from gridder.errors import InfeasibleError, InputError
from gridder.graph.streets import WalkNetwork


def _instance(seed: int, n_dem: int = 60, n_cand: int = 25, radius: float = 180.0):
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 1000, (n_dem, 2))
    cand = rng.uniform(0, 1000, (n_cand, 2))
    cost = np.hypot(dem[:, None, 0] - cand[None, :, 0], dem[:, None, 1] - cand[None, :, 1])
    w = rng.integers(1, 50, n_dem).astype(float)
    return cost, w, radius


# spopt builds its model with PuLP calls that PuLP 3.3 deprecates: not our warnings
PEER_WARNINGS = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)


@PEER_WARNINGS
@pytest.mark.parametrize(("seed", "p"), [(0, 3), (1, 5), (2, 8)])
def test_max_cover_equals_spopt_mclp(seed, p):
    import pulp  # spopt and pulp are test dependencies: a missing one fails, never skips
    from spopt import locate

    cost, w, radius = _instance(seed)
    mclp = locate.MCLP.from_cost_matrix(cost, w, radius, p_facilities=p)
    mclp.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=2))
    want = mclp.problem.objective.value()
    cover = sparse.csr_matrix(cost <= radius)
    for solver in ("SCIP", "CBC"):
        sol = solve_max_cover(cover, w, n_sites=p, solver=solver, time_limit_s=2)
        assert sol.status == "OPTIMAL"
        assert sol.objective == pytest.approx(want)
        assert len(sol.selected) == p
        # the chosen sites really cover that many households
        got = w[np.asarray(cover[:, sol.selected].sum(axis=1)).ravel() > 0].sum()
        assert got == pytest.approx(want)


@PEER_WARNINGS
@pytest.mark.parametrize("seed", [0, 3])
def test_set_cover_equals_spopt_lscp(seed):
    import pulp  # spopt and pulp are test dependencies: a missing one fails, never skips
    from spopt import locate

    cost, _, radius = _instance(seed, radius=260.0)
    coverable = (cost <= radius).any(axis=1)
    cost = cost[coverable]
    lscp = locate.LSCP.from_cost_matrix(cost, radius)
    lscp.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=2))
    want = lscp.problem.objective.value()
    sol = solve_set_cover(sparse.csr_matrix(cost <= radius), time_limit_s=2)
    assert sol.status == "OPTIMAL"
    assert sol.objective == pytest.approx(want)
    assert (np.asarray((cost <= radius)[:, sol.selected].sum(axis=1)) > 0).all()


def test_capacitated_max_cover_brute_force():
    rng = np.random.default_rng(4)
    cover = sparse.csr_matrix(rng.random((14, 6)) < 0.35)
    w = rng.integers(1, 20, 14).astype(float)
    cap = np.full(6, 30.0)
    sol = solve_max_cover(cover, w, n_sites=2, capacity=cap, time_limit_s=2)
    dense = cover.toarray()
    best = 0.0
    # brute force: each pair of sites, best assignment by exhaustive search over demand
    for pair in itertools.combinations(range(6), 2):
        rows = np.flatnonzero(dense[:, pair].any(axis=1))
        for choice in itertools.product(range(3), repeat=len(rows)):
            load = [0.0, 0.0]
            ok = True
            for i, c in zip(rows, choice, strict=True):
                if c < 2:
                    if not dense[i, pair[c]]:
                        ok = False
                        break
                    load[c] += w[i]
            if ok and max(load) <= 30:
                best = max(best, sum(load))
    assert sol.objective == pytest.approx(best)
    assert sol.assigned is not None and (sol.assigned <= 30 + 1e-9).all()


def test_set_cover_infeasible():
    cover = sparse.csr_matrix(np.array([[1, 0], [0, 0]]))
    with pytest.raises(InfeasibleError):
        solve_set_cover(cover, demand=np.array([True, True]), time_limit_s=2)


def test_site_facilities_on_network(synth):
    streets = synth.lattice_edges(14, 14, 80.0, drop=0.1, jitter=8.0, seed=2)
    net = WalkNetwork.from_streets(streets)
    buildings = synth.make_buildings(300, 1040.0, seed=5)
    existing = synth.make_facilities({"站": 2}, 1040.0, seed=9)
    res = site_facilities(
        net,
        buildings,
        distance_m=300.0,
        existing=existing,
        add=3,
        candidate_spacing_m=120.0,
        time_limit_s=2,
    )
    assert res.status == "OPTIMAL"
    sites = res.sites
    assert len(sites) == 3
    assert list(sites["rank"]) == [1, 2, 3]
    assert sites["households_gained"].sum() == pytest.approx(res.objective)
    assert sites["households_gained"].is_monotonic_decreasing
    st = res.stats
    assert st["households_covered_after"] == pytest.approx(
        st["households_covered_before"] + res.objective
    )
    # cover_all: every reachable household not yet covered ends up covered
    allres = site_facilities(
        net,
        buildings,
        distance_m=300.0,
        existing=existing,
        cover_all=True,
        candidate_spacing_m=120.0,
        time_limit_s=2,
    )
    st = allres.stats
    assert st["households_covered_after"] + st["households_uncoverable"] == pytest.approx(
        st["households_total"]
    )
    assert len(allres.sites) == allres.objective
    # more sites never cover less; a given seedless run is deterministic
    again = site_facilities(
        net,
        buildings,
        distance_m=300.0,
        existing=existing,
        add=3,
        candidate_spacing_m=120.0,
        time_limit_s=2,
    )
    assert list(again.sites["candidate_id"]) == list(sites["candidate_id"])


def test_site_facilities_bad_options(synth):
    net = WalkNetwork.from_streets(synth.lattice_edges(5, 5, 80.0))
    b = synth.make_buildings(10, 320.0)
    with pytest.raises(InputError):
        site_facilities(net, b, distance_m=300, add=None, cover_all=False)
    with pytest.raises(InputError):
        site_facilities(net, b, distance_m=300, add=0)
    cands = network_candidates(net, spacing_m=1e6)
    assert len(cands) == 1


def test_covered_mask_equals_existing_and_network_roundtrip(synth):
    streets = synth.lattice_edges(10, 10, 80.0, drop=0.1, jitter=8.0, seed=3)
    net = WalkNetwork.from_streets(streets)
    buildings = synth.make_buildings(150, 720.0, seed=6)
    existing = synth.make_facilities({"站": 2}, 720.0, seed=2)
    a = site_facilities(
        net,
        buildings,
        distance_m=250.0,
        existing=existing,
        add=2,
        candidate_spacing_m=100.0,
        time_limit_s=2,
    )
    from gridder.coverage.access import nearest_facility

    near = nearest_facility(
        net, net.snap(existing.geometry), net.snap(buildings.geometry), cutoff_m=250.0
    )[0]
    # the network written as edges (as a coverage file would hold it) rebuilds the same graph
    again = WalkNetwork.from_streets(net.edges_frame())
    b = site_facilities(
        again,
        buildings,
        distance_m=250.0,
        covered=near.dist <= 250.0,
        add=2,
        candidate_spacing_m=100.0,
        time_limit_s=2,
    )
    assert a.objective == pytest.approx(b.objective)
    assert a.stats["households_covered_before"] == b.stats["households_covered_before"]


def test_add_more_sites_than_useful_reports_only_those_that_gain(synth):
    # a small town: two well-placed sites cover everyone, so asking for 6 must not
    # present 4 sites that add nobody as recommendations
    streets = synth.lattice_edges(6, 6, 60.0, seed=4)
    net = WalkNetwork.from_streets(streets)
    buildings = synth.make_buildings(40, 300.0, seed=8)
    res = site_facilities(
        net, buildings, distance_m=400.0, add=6, candidate_spacing_m=60.0, time_limit_s=2
    )
    st = res.stats
    assert st["sites_requested"] == 6
    assert 1 <= st["sites_with_gain"] < 6
    assert len(res.sites) == st["sites_with_gain"]
    assert (res.sites["households_gained"] > 0).all()
    assert list(res.sites["rank"]) == list(range(1, len(res.sites) + 1))
    # nothing is lost by leaving them out: the chosen sites still cover the optimum
    assert res.sites["households_gained"].sum() == pytest.approx(res.objective)
    assert st["households_covered_after"] == pytest.approx(
        st["households_covered_before"] + res.objective
    )
    reachable_hh = st["households_total"] - st["households_uncoverable"]
    assert res.objective == pytest.approx(reachable_hh)
    # and nothing left to gain at all: no site
    none = site_facilities(
        net,
        buildings,
        distance_m=400.0,
        add=3,
        candidate_spacing_m=60.0,
        covered=np.ones(len(buildings), dtype=bool),
        time_limit_s=2,
    )
    assert len(none.sites) == 0 and none.stats["sites_with_gain"] == 0
    assert none.objective == 0
    assert none.sites["site_id"].dtype == object  # still a text column when empty


@PEER_WARNINGS
@pytest.mark.parametrize("p", [2, 4])
def test_site_facilities_equals_spopt_on_its_network_matrix(synth, p):
    import pulp  # spopt and pulp are test dependencies: a missing one fails, never skips
    from spopt import locate

    from gridder.coverage.access import pairwise_within

    streets = synth.lattice_edges(12, 12, 80.0, drop=0.1, jitter=8.0, seed=7)
    net = WalkNetwork.from_streets(streets)
    buildings = synth.make_buildings(200, 880.0, seed=9)
    cands = network_candidates(net, spacing_m=150.0)
    radius = 250.0
    res = site_facilities(
        net, buildings, distance_m=radius, add=p, candidates=cands, time_limit_s=2
    )
    dist = pairwise_within(
        net, net.snap(cands.geometry), net.snap(buildings.geometry), cutoff_m=radius
    ).toarray()
    cost = np.where(dist > 0, dist, radius * 10)
    w = buildings["households"].to_numpy(float)
    mclp = locate.MCLP.from_cost_matrix(cost, w, radius, p_facilities=p)
    mclp.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=2))
    assert res.objective == pytest.approx(mclp.problem.objective.value())
    again = site_facilities(
        net, buildings, distance_m=radius, add=p, candidates=cands, time_limit_s=2
    )
    assert list(again.sites["candidate_id"]) == list(res.sites["candidate_id"])
    assert list(again.sites["households_gained"]) == list(res.sites["households_gained"])


def test_lazy_greedy_ranking_equals_plain_greedy():
    from gridder.coverage.siting import greedy_gains

    rng = np.random.default_rng(5)
    for _ in range(20):
        m, n = int(rng.integers(5, 120)), int(rng.integers(1, 30))
        cover = sparse.csc_matrix(rng.random((m, n)) < rng.uniform(0.05, 0.4))
        w = rng.integers(0, 4, m).astype(float)  # zeros and ties on purpose
        sel = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        # plain greedy: the largest marginal gain first, ties to the lower column
        covered = np.zeros(m, dtype=bool)
        left, want_order, want_gain = list(sel), [], []
        while left:
            g = [w[cover[:, j].indices][~covered[cover[:, j].indices]].sum() for j in left]
            k = int(np.argmax(g))
            want_order.append(left[k])
            want_gain.append(g[k])
            covered[cover[:, left[k]].indices] = True
            left.pop(k)
        order, gains = greedy_gains(cover, w, sel)
        assert order.tolist() == want_order
        assert np.allclose(gains, want_gain)
        assert gains.sum() == pytest.approx(
            w[np.asarray(cover[:, sel].sum(axis=1)).ravel() > 0].sum()
        )


@pytest.mark.parametrize("capacity", [np.nan, np.inf, 0.0, -1.0])
def test_capacity_must_be_finite_and_positive(synth, capacity):
    # nan aborted the process inside SCIP, inf was an "infinite coefficient" error,
    # 0 and -1 silently proposed no site
    net = WalkNetwork.from_streets(synth.lattice_edges(5, 5, 80.0))
    b = synth.make_buildings(10, 320.0)
    for mode in ({"add": 1}, {"cover_all": True}):
        with pytest.raises(InputError, match=r"--capacity: .*: expected a number of households"):
            site_facilities(net, b, distance_m=300, capacity=capacity, time_limit_s=2, **mode)


def test_capacity_larger_than_every_household_is_no_limit(synth):
    streets = synth.lattice_edges(8, 8, 80.0, seed=2)
    net = WalkNetwork.from_streets(streets)
    buildings = synth.make_buildings(80, 560.0, seed=3)
    options = {"distance_m": 200.0, "candidate_spacing_m": 120.0, "time_limit_s": 2}
    free = site_facilities(net, buildings, add=2, **options)
    huge = site_facilities(net, buildings, add=2, capacity=1e30, **options)
    assert huge.objective == pytest.approx(free.objective)
    assert list(huge.sites["households_gained"]) == list(free.sites["households_gained"])
    allfree = site_facilities(net, buildings, cover_all=True, **options)
    allhuge = site_facilities(net, buildings, cover_all=True, capacity=1e30, **options)
    assert allhuge.objective == allfree.objective


def test_cover_all_refuses_a_building_larger_than_a_site(synth):
    streets = synth.lattice_edges(8, 8, 80.0, seed=2)
    net = WalkNetwork.from_streets(streets)
    buildings = synth.make_buildings(80, 560.0, seed=3)
    buildings.loc[7, "households"] = 2985
    options = {"distance_m": 200.0, "candidate_spacing_m": 120.0, "time_limit_s": 2}
    with pytest.raises(InputError) as info:
        site_facilities(net, buildings, cover_all=True, capacity=2500, **options)
    (problem,) = info.value.problems
    assert (problem.source, problem.feature) == ("--capacity", "building_id=B7")
    assert "2,985 households" in problem.problem and "--capacity 2985 or more" in problem.problem
    # maximal covering leaves it uncovered, and so does a site of that capacity serve others
    add = site_facilities(net, buildings, add=2, capacity=2500, **options)
    assert (add.sites["households_gained"] <= 2500).all()
    ok = site_facilities(net, buildings, cover_all=True, capacity=3000, **options)
    st = ok.stats
    assert st["households_covered_after"] + st["households_uncoverable"] == pytest.approx(
        st["households_total"]
    )
