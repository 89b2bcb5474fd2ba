"""Solve many communities in parallel through one executor interface.

Communities are independent units of work. :func:`solve_many` submits each
to a :class:`concurrent.futures.Executor` (a process pool by default; any
executor with the same interface — a thread pool, or a distributed engine's
``concurrent.futures`` adapter such as Dask's ``client.get_executor()`` —
serves too) and reports progress through a callback. Results come back in
input order, and each community's seed derives from its id, so plans do not
depend on the number of workers or the order of completion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed

from gridder.partition.config import PartitionConfig
from gridder.partition.instance import PartitionInstance
from gridder.partition.solver import GridPartitioner, PartitionResult

__all__ = ["ProgressCallback", "solve_many", "solve_one"]

logger = logging.getLogger(__name__)

#: Called after each community with (communities done, total, its result).
ProgressCallback = Callable[[int, int, PartitionResult], None]


def solve_one(instance: PartitionInstance, config: PartitionConfig) -> PartitionResult:
    """Solve one community (replans when the instance carries previous labels)."""
    if len(instance.previous) == instance.n and instance.n and (instance.previous >= 0).any():
        from gridder.partition.replan import replan

        return replan(instance, config)
    return GridPartitioner(instance, config).solve()


def solve_many(
    instances: Iterable[PartitionInstance],
    config: PartitionConfig | None = None,
    *,
    max_workers: int | None = None,
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
) -> list[PartitionResult]:
    """Solve communities, in parallel, in input order.

    Parameters
    ----------
    instances
        One instance per community.
    config
        Options shared by all communities (per-community seeds derive from
        ``config.seed`` and the community id).
    max_workers
        Processes of the default pool; ``1`` solves in this process.
    executor
        An executor to submit to instead of the default process pool (it is
        not shut down here).
    progress
        Called after each community finishes.

    Returns
    -------
    list of PartitionResult
        One result per instance, in input order.
    """
    config = config or PartitionConfig()
    items = list(instances)
    total = len(items)
    results: list[PartitionResult | None] = [None] * total
    if executor is None and (max_workers == 1 or total <= 1):
        for i, inst in enumerate(items):
            results[i] = solve_one(inst, config)
            if progress is not None:
                progress(i + 1, total, results[i])  # type: ignore[arg-type]
        return [r for r in results if r is not None]
    own = executor is None
    pool = executor or ProcessPoolExecutor(max_workers=max_workers)
    try:
        # largest first keeps the pool busy to the end
        order = sorted(range(total), key=lambda i: -items[i].n)
        futures: dict[Future[PartitionResult], int] = {
            pool.submit(solve_one, items[i], config): i for i in order
        }
        for done, fut in enumerate(as_completed(futures), start=1):
            i = futures[fut]
            results[i] = fut.result()
            if progress is not None:
                progress(done, total, results[i])  # type: ignore[arg-type]
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in results if r is not None]
