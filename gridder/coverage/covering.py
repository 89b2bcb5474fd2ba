"""Covering models on a sparse coverage matrix: maximal covering and set covering.

Mixed-integer programs solved with OR-Tools' MIP interface (pywraplp with SCIP, or CBC):
measured in this project, it proves these optima in under a second where CP-SAT did not
in a minute (DESIGN.md §17). Plain arrays in, :class:`Solution` out; the geometry (which
building a site reaches) is :mod:`gridder.coverage.siting`'s job.

* **Maximal covering** (:func:`solve_max_cover`): ``y_j`` binary per candidate,
  ``z_i ∈ [0, 1]`` per demand, ``z_i ≤ Σ_{j covers i} y_j``, ``Σ y_j = N``, maximise
  ``Σ w_i z_i``; at an optimum ``z`` is integral.
* **Set covering** (:func:`solve_set_cover`): fewest ``y_j`` such that every demand row
  is covered.
* **Capacity** (optional, households per site): each demand row is assigned to at most
  one chosen site (binary ``x_ij ≤ y_j``) and ``Σ_i h_i x_ij ≤ cap_j y_j``.

The solvers run on one thread, so a given model gives the same solution every time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from ortools.linear_solver import pywraplp
from scipy import sparse

from gridder.errors import InfeasibleError, SolverError

__all__ = ["Solution", "SolverName", "solve_max_cover", "solve_set_cover"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SolverName = Literal["SCIP", "CBC"]

_STATUS = {
    pywraplp.Solver.OPTIMAL: "OPTIMAL",
    pywraplp.Solver.FEASIBLE: "FEASIBLE",
    pywraplp.Solver.INFEASIBLE: "INFEASIBLE",
    pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
    pywraplp.Solver.ABNORMAL: "ABNORMAL",
    pywraplp.Solver.NOT_SOLVED: "NOT_SOLVED",
}


@dataclass(frozen=True)
class Solution:
    """A solved covering model.

    Parameters
    ----------
    selected
        Chosen candidate columns.
    objective
        Households covered (maximal covering) or sites used (set covering).
    status
        ``OPTIMAL`` or ``FEASIBLE`` (a time limit was hit).
    build_s, solve_s
        Seconds spent building and solving the model.
    assigned
        Per selected site, the households assigned (capacitated models) or ``None``.
    """

    selected: IntArray
    objective: float
    status: str
    build_s: float
    solve_s: float
    assigned: FloatArray | None = None


def _solver(name: SolverName, time_limit_s: float) -> pywraplp.Solver:
    solver = pywraplp.Solver.CreateSolver(name)
    if solver is None:
        raise SolverError(f"OR-Tools has no {name} MIP solver in this build")
    solver.SetTimeLimit(int(time_limit_s * 1000))
    solver.SetNumThreads(1)  # deterministic
    return solver


def _finish(
    solver: pywraplp.Solver, y: list[Any], t0: float, objective_sense: str
) -> tuple[IntArray, float, str, float, float]:
    t1 = time.perf_counter()
    code = solver.Solve()
    t2 = time.perf_counter()
    status = _STATUS.get(code, str(code))
    if code == pywraplp.Solver.INFEASIBLE:
        raise InfeasibleError(f"the {objective_sense} model is infeasible")
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise SolverError(f"the {objective_sense} model was not solved (status {status})")
    selected = np.asarray(
        [j for j, var in enumerate(y) if var.solution_value() > 0.5], dtype=np.int64
    )
    return selected, float(solver.Objective().Value()), status, t1 - t0, t2 - t1


def solve_max_cover(
    coverage: sparse.spmatrix,
    weights: npt.ArrayLike,
    *,
    n_sites: int,
    capacity: npt.ArrayLike | None = None,
    solver: SolverName = "SCIP",
    time_limit_s: float = 60.0,
) -> Solution:
    """Maximal covering on a demand × candidate coverage matrix.

    Parameters
    ----------
    coverage
        Nonzero where a candidate (column) covers a demand point (row).
    weights
        Households per demand point (already-covered demand should weigh 0).
    n_sites
        Sites to choose (fewer when there are fewer candidates).
    capacity
        Households per candidate, or ``None`` for uncapacitated.
    solver
        ``SCIP`` or ``CBC``.
    time_limit_s
        Solver time limit.

    Returns
    -------
    Solution
        ``objective`` is the households covered.
    """
    t0 = time.perf_counter()
    a = sparse.csr_matrix(coverage)
    a.eliminate_zeros()
    w = np.asarray(weights, dtype=float)
    n_cand = int(a.shape[1])
    rows = np.flatnonzero((w > 0) & (np.diff(a.indptr) > 0))
    s = _solver(solver, time_limit_s)
    y = [s.BoolVar(f"y{j}") for j in range(n_cand)]
    s.Add(sum(y) == min(n_sites, n_cand))
    obj = s.Objective()
    x: dict[tuple[int, int], Any] = {}
    if capacity is None:
        for i in rows:
            z = s.NumVar(0.0, 1.0, f"z{i}")
            ct = s.Constraint(-s.infinity(), 0.0)
            ct.SetCoefficient(z, 1.0)
            for j in a.indices[a.indptr[i] : a.indptr[i + 1]]:
                ct.SetCoefficient(y[j], -1.0)
            obj.SetCoefficient(z, float(w[i]))
    else:
        x = _assignment(
            s, a, w, rows, y=y, capacity=np.asarray(capacity, dtype=float), equality=False
        )
        for (di, _), var in x.items():
            obj.SetCoefficient(var, float(w[di]))
    obj.SetMaximization()
    selected, value, status, build_s, solve_s = _finish(s, y, t0, "maximal covering")
    assigned = None if capacity is None else _assigned(x, w, selected)
    return Solution(selected, value, status, build_s, solve_s, assigned)


def solve_set_cover(
    coverage: sparse.spmatrix,
    *,
    demand: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
    capacity: npt.ArrayLike | None = None,
    solver: SolverName = "SCIP",
    time_limit_s: float = 60.0,
) -> Solution:
    """Set covering: fewest candidates so that every demand row is covered.

    Parameters
    ----------
    coverage
        Nonzero where a candidate (column) covers a demand point (row).
    demand
        Boolean mask of rows that must be covered (default: every row some candidate
        covers).
    weights
        Households per row (needed with ``capacity``).
    capacity
        Households per candidate, or ``None``.
    solver
        ``SCIP`` or ``CBC``.
    time_limit_s
        Solver time limit.

    Returns
    -------
    Solution
        ``objective`` is the number of sites.

    Raises
    ------
    InfeasibleError
        A demand row no candidate covers, or capacities too small.
    """
    t0 = time.perf_counter()
    a = sparse.csr_matrix(coverage)
    a.eliminate_zeros()
    n_dem, n_cand = a.shape
    need = np.ones(n_dem, dtype=bool) if demand is None else np.asarray(demand, dtype=bool)
    if demand is None:
        need &= np.diff(a.indptr) > 0
    orphan = need & (np.diff(a.indptr) == 0)
    if orphan.any():
        raise InfeasibleError(f"{int(orphan.sum())} demand points are covered by no candidate")
    rows = np.flatnonzero(need)
    s = _solver(solver, time_limit_s)
    y = [s.BoolVar(f"y{j}") for j in range(n_cand)]
    obj = s.Objective()
    for var in y:
        obj.SetCoefficient(var, 1.0)
    x: dict[tuple[int, int], Any] = {}
    if capacity is None:
        for i in rows:
            ct = s.Constraint(1.0, s.infinity())
            for j in a.indices[a.indptr[i] : a.indptr[i + 1]]:
                ct.SetCoefficient(y[j], 1.0)
    else:
        w = np.ones(n_dem) if weights is None else np.asarray(weights, dtype=float)
        x = _assignment(
            s, a, w, rows, y=y, capacity=np.asarray(capacity, dtype=float), equality=True
        )
    obj.SetMinimization()
    selected, value, status, build_s, solve_s = _finish(s, y, t0, "set covering")
    assigned = None
    if capacity is not None:
        assigned = _assigned(
            x, np.ones(n_dem) if weights is None else np.asarray(weights, dtype=float), selected
        )
    return Solution(selected, value, status, build_s, solve_s, assigned)


def _assignment(
    s: pywraplp.Solver,
    a: sparse.csr_matrix,
    w: FloatArray,
    rows: IntArray,
    *,
    y: list[Any],
    capacity: FloatArray,
    equality: bool,
) -> dict[tuple[int, int], Any]:
    """Binary assignment variables of demand rows to candidates, with capacities."""
    cap = np.broadcast_to(capacity, (len(y),))
    x: dict[tuple[int, int], Any] = {}
    load: list[list[tuple[Any, float]]] = [[] for _ in y]
    for i in rows:
        lo = 1.0 if equality else 0.0
        ct = s.Constraint(lo, 1.0)
        for j in a.indices[a.indptr[i] : a.indptr[i + 1]]:
            var = s.BoolVar(f"x{i}_{j}")
            x[(int(i), int(j))] = var
            ct.SetCoefficient(var, 1.0)
            link = s.Constraint(-s.infinity(), 0.0)
            link.SetCoefficient(var, 1.0)
            link.SetCoefficient(y[j], -1.0)
            load[j].append((var, float(w[i])))
    for j, terms in enumerate(load):
        if terms:
            ct = s.Constraint(-s.infinity(), 0.0)
            for var, wi in terms:
                ct.SetCoefficient(var, wi)
            ct.SetCoefficient(y[j], -float(cap[j]))
    return x


def _assigned(x: dict[tuple[int, int], Any], w: FloatArray, selected: IntArray) -> FloatArray:
    total = dict.fromkeys(selected.tolist(), 0.0)
    for (i, j), var in x.items():
        if j in total and var.solution_value() > 0.5:
            total[j] += float(w[i])
    return np.asarray([total[j] for j in selected.tolist()], dtype=float)
