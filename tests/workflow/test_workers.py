"""Grid workers: every grid covered, limits held when the staff allows, contiguous specialists."""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import pytest

from gridder.cli import main
from gridder.errors import InputError
from gridder.plan import Plan
from gridder.planfile import PlanFile
from gridder.workers import assign_workers, grid_adjacency, split_households, write_workers


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
    # the reported largest load is the true one (whole households: the larger part)
    loads = [math.ceil(h / k) for h, k in zip(by["households"], by["n_grid_workers"], strict=True)]
    assert result.max_load == max(loads) == result.workers["households"].max()
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


def _grid_workers_per_grid(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    grid = result.workers[result.workers["role"] == "grid"]
    return grid["grid_ids"].value_counts().to_dict()


@pytest.mark.parametrize(("extra", "specialists"), [(0, 4), (2, 4), (3, 2)])
def test_specialists_come_on_top_of_one_grid_worker_per_grid(
    district_plan: Path, extra: int, specialists: int
) -> None:
    # 一员一格: with at least one grid worker per grid, each grid keeps its own; a
    # specialist never replaces a grid's worker (it used to: a grid served by its
    # specialist alone while another grid got two grid workers)
    plan = PlanFile.read(district_plan)
    n = len(plan.grids)
    result = assign_workers(plan, workers=n + extra, specialists=specialists, time_limit=2)
    per_grid = _grid_workers_per_grid(result)
    assert set(per_grid) == set(plan.grids["grid_id"])
    assert sum(per_grid.values()) == n + extra
    assert (result.by_grid["n_grid_workers"] >= 1).all()
    assert (result.workers["role"] == "specialist").sum() == specialists


def test_extra_grid_workers_go_to_grids_over_the_limit(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    n = len(plan.grids)
    hh = plan.grids.set_index("grid_id")["households"]
    limit = 280
    over = set(hh[hh > limit].index)
    assert len(over) == 2
    result = assign_workers(plan, workers=n + 2, max_households_per_worker=limit, time_limit=2)
    per_grid = _grid_workers_per_grid(result)
    assert {g for g, k in per_grid.items() if k > 1} == over
    assert result.limit_holds


def test_fewer_grid_workers_than_grids_leave_the_rest_to_specialists(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    n = len(plan.grids)
    result = assign_workers(plan, workers=n - 4, specialists=3, time_limit=2)
    per_grid = _grid_workers_per_grid(result)
    assert set(per_grid.values()) == {1}  # no grid gets two while another has none
    assert len(per_grid) == n - 4
    # a grid without a grid worker needs a specialist: 3 specialists serve 12 grids at most
    with pytest.raises(InputError, match="--workers: 11 grid workers leave 13 of the 24 grids"):
        assign_workers(plan, workers=n - 13, specialists=3, time_limit=2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "0", "--specialists", "8"], "--workers: must be at least 1, got 0"),
        (["--workers", "-3"], "--workers: must be at least 1, got -3"),
        (["--workers", "30", "--specialists", "-1"], "--specialists: must be 0 or more"),
    ],
)
def test_workers_below_one_is_bad_input(
    plan_copy: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    before = plan_copy.read_bytes()
    code = main(["workers", "--plan", str(plan_copy), *argv, "--time-limit", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert str(plan_copy.name) in err
    assert plan_copy.read_bytes() == before  # nothing written
    with pytest.raises(InputError, match="--workers"):
        assign_workers(plan_copy, workers=0, specialists=5)


def test_split_households_adds_up_in_whole_households() -> None:
    assert split_households(289, 2) == [145, 144]
    assert split_households(10, 3) == [4, 3, 3]
    assert split_households(0, 2) == [0, 0]
    assert split_households(7, 0) == []


def test_worker_households_are_whole_numbers(plan_copy: Path) -> None:
    plan = PlanFile.read(plan_copy)
    n = len(plan.grids)
    result = assign_workers(
        plan, workers=n + 6, specialists=2, max_households_per_worker=200, time_limit=2
    )
    frame = result.workers
    assert frame["households"].dtype == "int64"
    assert int(frame["households"].sum()) == int(plan.grids["households"].sum())
    # per grid, the grid workers' parts are as even as whole households allow
    grid = frame[frame["role"] == "grid"]
    spread = grid.groupby("grid_ids")["households"].agg(lambda v: v.max() - v.min())
    assert (spread <= 1).all()
    assert isinstance(result.max_load, int)
    write_workers(plan_copy, result)
    layer = PlanFile.read(plan_copy).layer("workers")
    assert layer is not None
    assert layer["households"].dtype == "int64"
    served = Plan.open(plan_copy)
    for gid in plan.grids["grid_id"]:
        for worker in served.grid(gid)["properties"]["workers"]:
            assert type(worker["households"]) is int
            assert "." not in json.dumps(worker["households"])
