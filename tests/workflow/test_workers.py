"""Grid workers: every grid covered, limits held when the staff allows, contiguous specialists."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import pytest

from gridder.errors import InputError
from gridder.plan import Plan
from gridder.planfile import PlanFile
from gridder.workers import assign_workers, grid_adjacency, write_workers


def _covered(result, plan: PlanFile) -> None:  # type: ignore[no-untyped-def]
    served: dict[str, int] = {}
    for ids in result.workers["grid_ids"]:
        for g in ids.split(","):
            served[g] = served.get(g, 0) + 1
    assert set(served) == set(plan.grids["grid_id"])


def test_one_worker_per_grid_and_heavy_grids_get_more(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    n = len(plan.grids)
    result = assign_workers(plan, workers=n + 6, max_households_per_worker=200, time_limit=2)
    _covered(result, plan)
    assert (result.workers["role"] == "grid").sum() == n + 6
    by = result.by_grid.set_index("grid_id")
    assert (by["n_grid_workers"] >= 1).all()
    # the six extra workers go to the heaviest grids (min-max load)
    doubled = by[by["n_grid_workers"] == 2]
    assert len(doubled) == 6
    assert doubled["households"].min() >= by[by["n_grid_workers"] == 1]["households"].max() - 1e-9
    # the reported largest load is the true one
    loads = by["households"] / by["n_grid_workers"]
    assert result.max_load == pytest.approx(loads.max())
    assert not result.limit_holds  # 250-odd households per grid worker > 200
    assert any("needs" in note for note in result.notes)


def test_limit_holds_whenever_the_staff_allows(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    hh = plan.grids["households"].to_numpy()
    limit = 150
    need = int(sum(math.ceil(h / limit) for h in hh))
    result = assign_workers(plan, workers=need, max_households_per_worker=limit, time_limit=2)
    assert result.limit_holds
    assert result.workers["households"].max() <= limit
    assert result.workers["households"].sum() == pytest.approx(hh.sum(), abs=1)


def test_specialists_serve_contiguous_groups(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    n = len(plan.grids)
    result = assign_workers(plan, workers=n - 3, specialists=3, time_limit=2)
    _covered(result, plan)
    edges = grid_adjacency(plan)
    ids = plan.grids["grid_id"].tolist()
    graph = nx.Graph([(ids[i], ids[j]) for i, j in edges.tolist()])
    spec = result.workers[result.workers["role"] == "specialist"]
    assert len(spec) == 3
    seen: set[str] = set()
    for groups in spec["grid_ids"]:
        members = groups.split(",")
        assert len(members) >= 2
        assert nx.is_connected(graph.subgraph(members))
        communities = plan.grids.set_index("grid_id").loc[members, "community_id"]
        assert communities.nunique() == 1  # a specialist works for one community
        assert not seen & set(members)
        seen |= set(members)
    # grids with no grid worker are served by a specialist
    by = result.by_grid.set_index("grid_id")
    alone = by[by["n_grid_workers"] == 0]
    assert len(alone) >= 3
    assert alone["specialist_id"].notna().all()
    # the loads add up to the households
    assert result.workers["households"].sum() == pytest.approx(by["households"].sum(), abs=1)


def test_deterministic(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    n = len(plan.grids)
    a = assign_workers(plan, workers=n, specialists=2, seed=3, time_limit=1)
    b = assign_workers(plan, workers=n, specialists=2, seed=3, time_limit=1)
    assert a.workers.equals(b.workers)


def test_too_few_workers_say_what_is_needed(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    n = len(plan.grids)
    with pytest.raises(InputError, match=f"at least {n} grid workers"):
        assign_workers(plan, workers=n - 1)
    with pytest.raises(InputError, match="at most"):
        assign_workers(plan, workers=n, specialists=n)
    for limit in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError, match="time limit must be a number above 0"):
            assign_workers(plan, workers=n, time_limit=limit)


def test_workers_layer_is_written_and_served(plan_copy: Path) -> None:
    plan = PlanFile.read(plan_copy)
    n = len(plan.grids)
    result = assign_workers(plan, workers=n, specialists=1, time_limit=1)
    write_workers(plan_copy, result)
    again = PlanFile.read(plan_copy)
    assert again.layer("workers") is not None
    assert again.meta["workers"]["workers"] == n
    served = Plan.open(plan_copy)
    assert served.has_workers
    gid = plan.grids["grid_id"].iloc[0]
    feature = served.grid(gid)
    ids = {w["worker_id"] for w in feature["properties"]["workers"]}
    expected = set(result.by_grid.set_index("grid_id").loc[gid, "worker_ids"].split(","))
    assert ids == expected
