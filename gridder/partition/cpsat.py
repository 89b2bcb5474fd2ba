"""One CP-SAT solver set-up for every model of the partition engine.

Every model runs with a fixed number of workers, a fixed seed and a
*deterministic* time limit, so that the same inputs and seed give the same
plan; a wall-clock guard of ``WALL_GUARD`` times the deterministic limit only
stops a pathological solve (the result is then flagged as limit-hit by the
caller, from the solver status).
"""

from __future__ import annotations

from ortools.sat.python import cp_model

__all__ = ["WALL_GUARD", "deterministic_solver"]

#: Wall-clock guard, as a multiple of the deterministic limit.
WALL_GUARD = 20.0


def deterministic_solver(
    *,
    workers: int,
    seed: int,
    time_limit: float,
    probing: bool = True,
    presolve: bool = True,
    local_search: bool = False,
) -> cp_model.CpSolver:
    """A CP-SAT solver with a fixed worker count, seed and deterministic time limit.

    Parameters
    ----------
    workers
        Search workers (one for reproducible plans).
    seed
        CP-SAT's random seed.
    time_limit
        Deterministic time limit.
    probing
        Keep CP-SAT's probing (off: it costs 20-30x the solve on exact covers, measured).
    presolve
        Keep CP-SAT's presolve.
    local_search
        Run CP-SAT's local search only (``use_ls_only``): for feasibility-hard
        models with a complete hint, where tree search stalls.
    """
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers = workers
    p.random_seed = seed
    p.max_deterministic_time = time_limit
    p.max_time_in_seconds = WALL_GUARD * time_limit
    p.log_search_progress = False
    if not probing:
        p.cp_model_probing_level = 0
    if not presolve:
        p.cp_model_presolve = False
    if local_search:
        p.use_ls_only = True
    return solver
