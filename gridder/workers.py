"""Grid workers (网格员): who is responsible for each grid, and how much each one carries.

:func:`assign_workers` staffs a plan with OR-Tools CP-SAT:

- **grid workers** (一员一格) each serve one grid; ``workers`` counts them
  (specialists come on top). When ``workers ≥ grids`` every grid has its own
  grid worker (a hard constraint) and the extra grid workers go to the heavy
  grids, those over the limit first; with fewer grid workers than grids each
  one serves a different grid and every grid left without one must be served
  by a specialist. The households of a grid not taken by a specialist are split
  between its grid workers as evenly as whole households allow (largest
  remainder: the parts add up to the grid's households exactly);
- **specialists** (一员多格) each serve a *contiguous* group of at least two
  grids (grids are adjacent when their polygons share a boundary, not just a
  corner), and take an explicit, whole-household share of those grids'
  households;
- no worker carries more than ``max_households_per_worker`` whenever staff ×
  limit ≥ total households allows it (the limit is a hard target: the model
  first minimises the overload, then the largest load, then the spread).

The model, in one place (constraints named as in the code):

- ``n[g]`` grid workers in grid ``g`` (one-hot ``b[g, k]``), ``Σ n = workers``;
  ``n[g] ≥ 1`` when ``workers ≥ grids``, else ``n[g] ≤ 1``;
- specialists choose among every connected group of 2 to ``max_group`` grids
  (enumerated on the grid adjacency graph, so a chosen group is contiguous by
  construction): ``y[c] = 1`` for ``specialists`` disjoint groups; ``x[g]``
  households of grid ``g`` its specialist takes;
- cover: ``n[g] + Σ_{c ∋ g} y[c] ≥ 1``;
- load: ``hh[g] − x[g] ≤ k · M`` when ``n[g] = k`` (``= 0`` when ``k = 0``),
  ``Σ_{g ∈ c} x[g] ≤ M`` when ``y[c]``, and ``M ≤ limit + overload``;
- objective: ``overload ≫ M ≫ Σ group sizes`` (compact groups).

Deterministic: one CP-SAT worker, a fixed seed, a deterministic time limit.

Examples
--------
>>> result = assign_workers("plan.gpkg", workers=30, specialists=3)  # doctest: +SKIP
>>> result.workers.head()  # doctest: +SKIP
>>> write_workers("plan.gpkg", result)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import shapely
from ortools.sat.python import cp_model

from gridder.errors import InputError, Problem, SolverError
from gridder.planfile import PlanFile

__all__ = [
    "WorkerAssignment",
    "assign_workers",
    "grid_adjacency",
    "split_households",
    "write_workers",
]

log = logging.getLogger(__name__)

#: Largest number of candidate specialist groups in one model.
MAX_GROUPS: Final = 20_000
#: Two grids are adjacent when their polygons share at least this much boundary (m).
MIN_SHARED_M: Final = 1.0
_BIG: Final = 1_000_000


@dataclass(frozen=True)
class WorkerAssignment:
    """Workers and the grids they serve.

    Parameters
    ----------
    workers
        One row per worker: ``worker_id``, ``role`` (``grid``/``specialist``),
        ``grid_ids`` (comma separated), ``community_id`` (comma separated),
        ``households`` (the whole households the worker carries; per grid, the
        parts of its workers add up to the grid's households).
    by_grid
        One row per grid: ``grid_id``, ``community_id``, ``households``,
        ``worker_ids`` (comma separated), ``n_grid_workers``, ``specialist_id``,
        ``households_per_grid_worker``.
    status
        CP-SAT status name.
    max_load
        Largest number of households any worker carries.
    limit
        The household limit per worker.
    limit_holds
        Whether no worker carries more than the limit.
    notes
        What a planner should know.
    """

    workers: pd.DataFrame
    by_grid: pd.DataFrame
    status: str
    max_load: int
    limit: int
    limit_holds: bool
    notes: list[str] = field(default_factory=list)

    def to_meta(self) -> dict[str, Any]:
        """Summary for ``plan_meta.workers``."""
        roles = self.workers["role"].value_counts()
        return {
            "workers": int(roles.get("grid", 0)),
            "specialists": int(roles.get("specialist", 0)),
            "max_households_per_worker": self.limit,
            "max_load": self.max_load,
            "limit_holds": self.limit_holds,
            "status": self.status,
            "notes": self.notes,
        }


def grid_adjacency(plan: PlanFile, *, min_shared: float = MIN_SHARED_M) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of grid rows whose polygons share a boundary (metric CRS)."""
    geoms = plan.grids.to_crs(plan.metric_crs()).geometry.to_numpy()
    if len(geoms) < 2:
        return np.empty((0, 2), dtype=np.int64)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(geoms[left]), shapely.boundary(geoms[right]))
    )
    ok = shared >= min_shared
    return np.column_stack([left[ok], right[ok]]).astype(np.int64)


def _plan(plan: PlanFile | str | os.PathLike[str]) -> PlanFile:
    return plan if isinstance(plan, PlanFile) else PlanFile.read(plan)


def assign_workers(
    plan: PlanFile | str | os.PathLike[str],
    *,
    workers: int,
    specialists: int = 0,
    max_households_per_worker: int = 400,
    seed: int = 0,
    time_limit: float = 10.0,
    max_group: int = 4,
) -> WorkerAssignment:
    """Assign grid workers and specialists to the grids of a plan (see the module docstring).

    Parameters
    ----------
    plan
        A plan file or a :class:`~gridder.planfile.PlanFile`.
    workers
        Number of grid workers (一员一格), at least 1; specialists are extra.
        With at least one per grid, every grid gets its own grid worker.
    specialists
        Number of specialists, each serving a contiguous group of ≥ 2 grids (一员多格),
        on top of the grid workers.
    max_households_per_worker
        The most households one worker should carry.
    seed
        CP-SAT random seed.
    time_limit
        CP-SAT deterministic time limit (about seconds).
    max_group
        Most grids one specialist serves.

    Raises
    ------
    InputError
        When the staff cannot give every grid a responsible worker (says what is needed).
    SolverError
        When CP-SAT finds no solution within the limit.
    """
    pf = _plan(plan)
    src = pf.source
    grids = pf.grids.reset_index(drop=True)
    n_grids = len(grids)
    problems: list[Problem] = []
    if workers < 1:
        problems.append(
            Problem(
                src,
                "--workers",
                f"must be at least 1, got {workers}: it counts the grid workers (一员一格); "
                "--specialists (一员多格) come on top of them, never instead of all of them",
            )
        )
    if specialists < 0:
        problems.append(Problem(src, "--specialists", f"must be 0 or more, got {specialists}"))
    if max_households_per_worker <= 0:
        problems.append(
            Problem(
                src,
                "--max-households-per-worker",
                f"must be above 0, got {max_households_per_worker}",
            )
        )
    if not (math.isfinite(time_limit) and time_limit > 0):
        problems.append(
            Problem(
                src, "--time-limit", f"the time limit must be a number above 0, got {time_limit}"
            )
        )
    if n_grids == 0:
        problems.append(Problem(src, "grids", "the plan has no grids"))
    if problems:
        raise InputError(problems)
    hh_series = _grid_households(pf)
    hh = np.rint(hh_series.reindex(grids["grid_id"]).fillna(0).to_numpy(float)).astype(np.int64)
    total = int(hh.sum())
    edges = grid_adjacency(pf)
    # a specialist works for one community (社区): groups never cross a community line
    comm_of = grids["community_id"].astype(str).to_numpy()
    edges = edges[comm_of[edges[:, 0]] == comm_of[edges[:, 1]]] if len(edges) else edges
    _check_staff(src, n_grids, workers, specialists, edges, max_group=max_group)
    limit = int(max_households_per_worker)
    model = cp_model.CpModel()
    top = max(total, limit, 1)
    m_var = model.new_int_var(0, top, "max_load")
    overload = model.new_int_var(0, top, "overload")
    model.add(m_var <= limit + overload)
    staff = workers + specialists
    n_var, b_var, ks_of = [], [], []
    every_grid = workers >= n_grids  # 一员一格: then each grid has its own grid worker
    for g in range(n_grids):
        fair = math.ceil(hh[g] * workers / total) if total else math.ceil(workers / n_grids)
        if every_grid:
            spare = workers - n_grids + 1  # one each, the rest to the heavy grids
            ks = list(range(1, min(spare, max(1, fair + 2, math.ceil(hh[g] / limit) + 1)) + 1))
        else:
            ks = [0, 1]  # each grid worker serves another grid; specialists cover the rest
        bs = [model.new_bool_var(f"b_{g}_{k}") for k in ks]
        model.add_exactly_one(bs)
        n = model.new_int_var(ks[0], ks[-1], f"n_{g}")
        model.add(n == sum(k * b for k, b in zip(ks, bs, strict=True)))
        n_var.append(n)
        b_var.append(bs)
        ks_of.append(ks)
    model.add(sum(n_var) == workers)
    groups = connected_groups(edges, n_grids, max_size=max_group)
    if specialists and not groups:
        raise InputError.single(src, "--specialists", "no two grids touch: no group to serve")
    y = [model.new_bool_var(f"y_{c}") for c in range(len(groups))]
    model.add(sum(y) == specialists)
    covering: list[list[Any]] = [[] for _ in range(n_grids)]
    for c, members in enumerate(groups):
        for g in members:
            covering[g].append(y[c])
    x = [model.new_int_var(0, int(hh[g]), f"x_{g}") for g in range(n_grids)]
    for c, members in enumerate(groups):
        model.add(sum(x[g] for g in members) <= m_var).only_enforce_if(y[c])
    for g in range(n_grids):
        cover = sum(covering[g]) if covering[g] else 0
        if covering[g]:
            model.add(sum(covering[g]) <= 1)  # groups are disjoint
        model.add(x[g] <= int(hh[g]) * cover)  # only a covering specialist takes households
        model.add(n_var[g] + cover >= 1)  # every grid has a responsible worker
        rest = int(hh[g]) - x[g]
        for k, b in zip(ks_of[g], b_var[g], strict=True):
            if k == 0:
                model.add(rest <= 0).only_enforce_if(b)
            else:
                model.add(rest <= k * m_var).only_enforce_if(b)
    group_size = sum(len(groups[c]) * y[c] for c in range(len(groups)))
    model.minimize(_BIG * overload + 1000 * m_var + group_size)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_deterministic_time = float(time_limit)
    status = solver.solve(model)
    if status == cp_model.UNKNOWN:
        # presolve can spend the whole budget on these models; without it CP-SAT finds
        # a staffing at once (the same remedy as the exact partition models)
        solver.parameters.cp_model_presolve = False
        status = solver.solve(model)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.INFEASIBLE:
            raise InputError.single(
                src,
                "--workers",
                f"no staffing exists with {workers} grid workers and {specialists} specialists: "
                f"the {max(n_grids - workers, 0)} grids without a grid worker must each lie in "
                f"a specialist's contiguous group of 2–{max_group} grids of one community; give "
                f"--workers {n_grids} to give every grid its own grid worker (一员一格)",
            )
        msg = f"workers: CP-SAT found no staffing within the limit ({name})"
        raise SolverError(msg)
    n = [int(solver.value(v)) for v in n_var]
    chosen = [groups[c] for c in range(len(groups)) if solver.value(y[c])]
    xs = [int(solver.value(v)) for v in x]
    result = _tables(grids, hh=hh, n=n, chosen=chosen, x=xs, limit=limit, status=name)
    notes = list(result.notes)
    if staff * limit < total:
        notes.append(
            f"{staff} staff × {limit} = {staff * limit} < {total} households: the limit cannot "
            f"hold; it needs at least {math.ceil(total / limit)} staff"
        )
    elif not result.limit_holds:
        need = int(sum(max(1, math.ceil(h / limit)) for h in hh))
        notes.append(
            f"a worker carries {result.max_load} households (> {limit}): grid workers serve "
            f"one grid each, so keeping the limit needs {need} grid workers, or more specialists"
        )
    log.info("workers: %s, max load %d (limit %d)", name, result.max_load, limit)
    return WorkerAssignment(
        workers=result.workers,
        by_grid=result.by_grid,
        status=name,
        max_load=result.max_load,
        limit=limit,
        limit_holds=result.limit_holds,
        notes=notes,
    )


def _grid_households(pf: PlanFile) -> pd.Series:
    """Households (or workload, when the plan balances on it) per grid id."""
    g = pf.grids
    col = "workload" if pf.band.balance_on == "workload" and "workload" in g else "households"
    if col in g.columns:
        return pd.Series(pd.to_numeric(g[col], errors="coerce").to_numpy(), index=g["grid_id"])
    return pf.grid_values()


def _check_staff(
    src: str, n_grids: int, workers: int, specialists: int, edges: np.ndarray, *, max_group: int
) -> None:
    """Raise a clear InputError when the staff cannot cover every grid.

    ``workers`` counts grid workers only; specialists come on top. With fewer grid
    workers than grids, each grid left without one needs a specialist's group.
    """
    if specialists == 0 and workers < n_grids:
        raise InputError.single(
            src,
            "--workers",
            f"{n_grids} grids need at least {n_grids} grid workers (一员一格), got {workers}; "
            f"give --workers {n_grids} or more, or --specialists to let one worker serve "
            "several adjacent grids (一员多格)",
        )
    if specialists and n_grids - workers > specialists * max_group:
        raise InputError.single(
            src,
            "--workers",
            f"{workers} grid workers leave {n_grids - workers} of the {n_grids} grids without "
            f"one, more than {specialists} specialists can serve (at most {max_group} grids "
            f"each); give --workers {n_grids} or more (一员一格), or more --specialists",
        )
    if specialists and n_grids < 2 * specialists:
        raise InputError.single(
            src,
            "--specialists",
            f"each specialist serves at least 2 grids and groups are disjoint: {n_grids} grids "
            f"allow at most {n_grids // 2} specialists, got {specialists}",
        )
    if specialists and len(edges) == 0:
        raise InputError.single(
            src,
            "--specialists",
            "no two grids touch, so no specialist can serve a contiguous group",
        )


def connected_groups(edges: np.ndarray, n: int, *, max_size: int = 4) -> list[tuple[int, ...]]:
    """Every connected group of 2 to ``max_size`` grids (sorted tuples, in a stable order).

    The size shrinks while the count passes :data:`MAX_GROUPS` (large plans).
    """
    nbr: list[set[int]] = [set() for _ in range(n)]
    for i, j in edges.tolist():
        nbr[i].add(j)
        nbr[j].add(i)
    size = max_size
    while True:
        seen: set[frozenset[int]] = set()
        frontier = [frozenset((i, j)) for i, j in edges.tolist()]
        seen.update(frontier)
        for _ in range(size - 2):
            grown: list[frozenset[int]] = []
            for grp in frontier:
                for v in set().union(*(nbr[u] for u in grp)) - grp:
                    bigger = grp | {v}
                    if bigger not in seen:
                        seen.add(bigger)
                        grown.append(bigger)
            frontier = grown
            if len(seen) > MAX_GROUPS:
                break
        if len(seen) <= MAX_GROUPS or size <= 2:
            return sorted((tuple(sorted(g)) for g in seen), key=lambda t: (len(t), t))
        size -= 1


def split_households(households: int, parts: int) -> list[int]:
    """Whole households for ``parts`` workers, as even as possible, adding up exactly.

    The largest-remainder split of equal quotas: every part is ``households // parts``
    and the first ``households % parts`` parts carry one more.

    Examples
    --------
    >>> split_households(289, 2)
    [145, 144]
    >>> split_households(10, 3)
    [4, 3, 3]
    """
    if parts <= 0:
        return []
    base, extra = divmod(int(households), int(parts))
    return [base + 1 if i < extra else base for i in range(parts)]


@dataclass(frozen=True)
class _Tables:
    workers: pd.DataFrame
    by_grid: pd.DataFrame
    max_load: int
    limit_holds: bool
    notes: list[str]


def _tables(
    grids: pd.DataFrame,
    *,
    hh: np.ndarray,
    n: list[int],
    chosen: list[tuple[int, ...]],
    x: list[int],
    limit: int,
    status: str,
) -> _Tables:
    ids = grids["grid_id"].astype(str).tolist()
    comm = grids["community_id"].astype(str).tolist()
    rows: list[dict[str, Any]] = []
    per_grid_workers: dict[int, list[str]] = {g: [] for g in range(len(ids))}
    specialist_of: dict[int, str] = {}
    taken = np.zeros(len(ids), dtype=np.int64)
    for s, members in enumerate(chosen):
        wid = f"S{s + 1:02d}"
        for g in members:
            specialist_of[g] = wid
            taken[g] += x[g]
        rows.append(
            {
                "worker_id": wid,
                "role": "specialist",
                "grid_ids": ",".join(ids[g] for g in members),
                "community_id": ",".join(sorted({comm[g] for g in members})),
                "households": int(sum(x[g] for g in members)),
            }
        )
    # grid workers numbered in grid order
    k = 0
    per_worker_load: list[int] = []
    grid_rows: list[dict[str, Any]] = []
    for g in range(len(ids)):
        rest = int(hh[g] - taken[g])
        share = rest / n[g] if n[g] else 0.0
        for part in split_households(rest, n[g]):
            k += 1
            wid = f"W{k:03d}"
            per_grid_workers[g].append(wid)
            per_worker_load.append(part)
            rows.append(
                {
                    "worker_id": wid,
                    "role": "grid",
                    "grid_ids": ids[g],
                    "community_id": comm[g],
                    "households": part,
                }
            )
        staff = per_grid_workers[g] + ([specialist_of[g]] if g in specialist_of else [])
        grid_rows.append(
            {
                "grid_id": ids[g],
                "community_id": comm[g],
                "households": int(hh[g]),
                "worker_ids": ",".join(staff),
                "n_grid_workers": n[g],
                "specialist_id": specialist_of.get(g),
                "households_per_grid_worker": round(share, 1) if n[g] else None,
            }
        )
    frame = pd.DataFrame(
        rows, columns=["worker_id", "role", "grid_ids", "community_id", "households"]
    ).astype({"households": "int64"})  # whole households (JSON integers in the API)
    order = frame["role"].map({"grid": 0, "specialist": 1})
    frame = frame.assign(_o=order).sort_values(["_o", "worker_id"]).drop(columns="_o")
    loads = per_worker_load + [int(r["households"]) for r in rows if r["role"] == "specialist"]
    max_load = max(loads, default=0)
    return _Tables(
        workers=frame.reset_index(drop=True),
        by_grid=pd.DataFrame(grid_rows),
        max_load=int(max_load),
        limit_holds=bool(max_load <= limit),
        notes=[] if status == "OPTIMAL" else [f"CP-SAT stopped at {status}: not proven optimal"],
    )


def write_workers(
    plan: PlanFile | str | os.PathLike[str],
    assignment: WorkerAssignment,
    *,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the ``workers`` table into the plan file (all layers rewritten atomically).

    ``plan_meta.workers`` gets the summary; ``plan_meta.workers_stale`` is cleared.
    """
    pf = _plan(plan)
    pf.layers["workers"] = assignment.workers.copy()
    pf.meta["workers"] = assignment.to_meta()
    pf.meta.pop("workers_stale", None)
    return pf.write(out)
