"""Minimal-change re-planning and local rebalancing.

:func:`replan` starts from the labels of a previous plan (``previous``;
new buildings ``-1``): labels are kept where the grid is still connected,
new buildings join a neighbouring grid, grids grown too big are split (the
part holding most of the old value keeps the label), and the local search and
neighbourhood repair restore the band while every household moved away from
its previous grid costs ``weights.moved``. Locked units keep their grid. When
that brings no grid into band and the previous plan is still valid on the new
data, the previous plan is kept as it is (:meth:`GridPartitioner.keep_start`).
Units holding no value stay with a valued unit of their previous grid; a plan
left above the band's lower bound is also re-planned without that rule, and the
one with fewer grids out of band (then fewer households moved) is kept. Balance
comes first: a community still above the bound is also drawn afresh, and when
that leaves fewer grids out of band it is taken, its grids matched to the
previous grids they share most households with (:func:`match_labels`).

:func:`rebalance` does the same around a few grids only (a hand edit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from gridder.errors import InputError
from gridder.partition.check import check_partition, split_compounds
from gridder.partition.config import PartitionConfig
from gridder.partition.costs import grid_stats, plan_objective
from gridder.partition.instance import PartitionInstance
from gridder.partition.lowerbound import plan_cap
from gridder.partition.quality import partition_quality
from gridder.partition.sets import adjacency_lists
from gridder.partition.solver import GridPartitioner, PartitionResult, loose_bound_reasons
from gridder.partition.zonebound import out_of_band_above_proven

__all__ = ["match_labels", "moved_share", "rebalance", "replan"]

logger = logging.getLogger(__name__)

#: Prices of a moved household (times ``weights.moved``) tried when a re-plan moves more
#: than ``config.max_moved``.
_HEAVIER = (4, 16, 64)


def _start(instance: PartitionInstance, previous: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    lab = previous.copy()
    locked = np.asarray(instance.locked, dtype=np.int64)
    if len(locked) == instance.n:
        lab[locked >= 0] = locked[locked >= 0]
    return lab


def replan(
    instance: PartitionInstance,
    config: PartitionConfig | None = None,
    *,
    previous: npt.ArrayLike | None = None,
    seed: int | None = None,
) -> PartitionResult:
    """Re-plan a community from a previous plan, moving as little value as possible.

    Parameters
    ----------
    instance
        The community now (buildings added or removed, values changed).
    config
        Band, weights (``weights.moved`` prices a moved household) and limits.
    previous
        Previous grid label per unit, ``-1`` for new units (default:
        ``instance.previous``).
    seed
        Overrides the per-community seed.

    Returns
    -------
    PartitionResult
        The new plan; labels of grids that persist are the previous labels.
    """
    prev = np.asarray(instance.previous if previous is None else previous, dtype=np.int64)
    if len(prev) != instance.n:
        raise InputError.single(
            f"community {instance.community_id}",
            "previous",
            f"has {len(prev)} labels for {instance.n} units",
        )
    t0 = time.perf_counter()
    cfg = config or PartitionConfig()

    def rank(labels: npt.ArrayLike, out_of_band: int) -> tuple[bool, float, int, float]:
        # a plan within --max-moved first, then fewer grids out of band, then fewer moves;
        # among plans above the share, the one moving least (stability was asked for)
        moved = moved_share(instance, _best_labels(instance, labels, prev), prev)
        over = moved > cfg.max_moved + 1e-9
        return (over, moved if over else 0.0, out_of_band, moved)

    solver = GridPartitioner(instance, config, seed=seed)
    start = _start(instance, prev)
    result = solver.improve(start, previous=prev)
    if result.out_of_band > result.lower_bound.min_out_of_band:
        # units holding no value may also move with another grid's valued unit: other
        # super-units, another search (more households may move, for fewer grids out)
        loose = GridPartitioner(instance, config, seed=seed)
        loose._exact_bounds = solver._exact_bounds  # one community's cache
        loose.group_start = False
        other = loose.improve(start, previous=prev)
        if rank(other.labels, other.out_of_band) < rank(result.labels, result.out_of_band):
            result = other
    split = cfg.keep_compounds and bool(split_compounds(instance, result.labels, cfg))
    if split or result.out_of_band > result.lower_bound.min_out_of_band:
        # balance comes first: when a plan drawn afresh leaves fewer grids out of band,
        # it is taken, its grids matched to the previous ones (most households shared);
        # so is it when the re-plan splits a compound --keep-compounds keeps whole (a
        # previous plan made without the option) and the fresh plan does not
        drawn = GridPartitioner(
            replace(instance, previous=np.empty(0, dtype=np.int64)), config, seed=seed
        )
        drawn._exact_bounds = solver._exact_bounds  # one community's cache
        fresh = drawn.solve()
        fresh_whole = not (cfg.keep_compounds and split_compounds(instance, fresh.labels, cfg))
        matched = _matched(instance, fresh, prev, cfg, result, compounds=split)
        better = (
            rank(matched.labels, fresh.out_of_band)[:3]
            < rank(result.labels, result.out_of_band)[:3]
        )
        if (split and fresh_whole) or (not split and better):
            logger.info(
                "%s: re-planned afresh (%d grid(s) out of band instead of %d), %.1f%% moved",
                instance.community_id,
                fresh.out_of_band,
                result.out_of_band,
                100 * moved_share(instance, matched.labels, prev),
            )
            result = matched
    # buildings back to their previous grid first: a plan within --max-moved then needs
    # no dearer search
    result = _within(instance, result, prev, cfg, solver)
    over = moved_share(instance, result.labels, prev) > cfg.max_moved + 1e-9
    for factor in _HEAVIER if over else ():
        # --max-moved: price each moved household higher until a plan keeps within it
        weights = replace(cfg.weights, moved=cfg.weights.moved * factor)
        heavier = GridPartitioner(instance, replace(cfg, weights=weights), seed=seed)
        heavier._exact_bounds = solver._exact_bounds
        other = _within(instance, heavier.improve(start, previous=prev), prev, cfg, solver)
        if rank(other.labels, other.out_of_band) < rank(result.labels, result.out_of_band):
            objective = plan_objective(instance, other.labels, cfg, previous=prev)
            note = (
                f"--max-moved {cfg.max_moved:.0%}: re-planned with each moved household "
                f"priced {factor} times higher ({moved_share(instance, other.labels, prev):.1%}"
                f" moved instead of {moved_share(instance, result.labels, prev):.1%})"
            )
            result = replace(other, objective=objective, notes=(*other.notes, note))
        over = moved_share(instance, result.labels, prev) > cfg.max_moved + 1e-9
        if not over:
            break
    result = _merge_strays(instance, result, prev, cfg, solver)
    result = _within(instance, result, prev, cfg, solver)
    over = moved_share(instance, result.labels, prev) > cfg.max_moved + 1e-9
    kept = solver.keep_start(start, result, over_max_moved=over)
    if over and kept is result:
        note = (
            f"moved {moved_share(instance, result.labels, prev):.0%} of households, above "
            f"--max-moved {cfg.max_moved:.0%}: no plan tried moved fewer (the previous "
            "grids no longer form a valid plan on these data)"
        )
        kept = replace(kept, notes=(*kept.notes, note))
    left = split_compounds(instance, kept.labels, cfg) if cfg.keep_compounds else []
    if left:  # --max-moved came first: say what --keep-compounds could not keep
        why = (
            f": mending them would move more than --max-moved {cfg.max_moved:.0%}"
            if cfg.max_moved < 1
            else ""
        )
        note = f"{len(left)} compound(s) that fit the band stay split{why}"
        kept = replace(kept, notes=(*kept.notes, note))
    return replace(kept, solve_time=time.perf_counter() - t0)  # every way tried


def _merge_strays(
    instance: PartitionInstance,
    result: PartitionResult,
    prev: npt.NDArray[np.int64],
    config: PartitionConfig,
    solver: GridPartitioner,
) -> PartitionResult:
    """Merge grids below the band into a neighbour when that leaves fewer grids out of band.

    A re-plan whose households are priced high may leave a few buildings cut
    from their previous grid as a grid of their own, far below the band. Such a
    grid joins the neighbouring grid (across no major street, river or rail)
    that leaves the fewest grids out of band, then moves the fewest households
    (its previous grid first: its buildings then move back), provided the
    households moved stay within ``config.max_moved``, or do not grow when the
    plan moves more than that already, and the grid it makes holds at most the
    maximum plus the band's width (two grids just outside the band, 195 and 315
    households, are not one grid of 510: that lowers the count only by making a
    worse grid — a re-plan of unchanged data did so, up to 594). Locked
    grids and buildings above the maximum are left alone. Every merge joins two
    connected grids along a link, so grids stay connected.
    """
    lab = np.asarray(result.labels, dtype=np.int64).copy()
    value = solver.value
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    soft = e[~np.asarray(instance.edge_hard, dtype=bool)] if len(e) else e
    frozen = set(lab[solver.locked >= 0].tolist()) | set(lab[solver.over].tolist())
    cap = config.grid_cap
    merged = 0
    while True:
        totals = np.bincount(lab, weights=value).astype(np.int64)
        small = [g for g in np.unique(lab).tolist() if totals[g] < config.min and g not in frozen]
        # above --max-moved already: never more households moved
        limit = max(config.max_moved, moved_share(instance, lab, prev)) + 1e-9
        a, b = lab[soft[:, 0]], lab[soft[:, 1]]
        best: tuple[tuple[int, float], int, int] | None = None
        for g in small:
            near = set(b[a == g].tolist()) | set(a[b == g].tolist())
            for h in sorted(near - {g} - frozen):
                if totals[g] + totals[h] > cap:
                    continue
                after = not config.in_band(totals[g] + totals[h])
                change = after - (not config.in_band(totals[g])) - (not config.in_band(totals[h]))
                if change >= 0:
                    continue
                moved = moved_share(instance, np.where(lab == g, h, lab), prev)
                if moved > limit:
                    continue
                key = (change, moved)
                if best is None or key < best[0]:
                    best = (key, g, h)
        if best is None:
            break
        _, g, h = best
        lab[lab == g] = h
        merged += 1
    if not merged:
        return result
    note = (
        f"{merged} grid(s) below the band joined a neighbouring grid "
        f"({moved_share(instance, lab, prev):.1%} of households moved after)"
    )
    return _relabelled(instance, result, lab, prev, config, solver, note)


def _pieces(units: list[int], nbrs: list[list[int]], inside: npt.NDArray[np.bool_]) -> int:
    """Connected pieces of ``units`` (all ``inside``) over the links of ``nbrs``."""
    seen: set[int] = set()
    pieces = 0
    for u in units:
        if u in seen:
            continue
        pieces += 1
        stack = [u]
        seen.add(u)
        while stack:
            x = stack.pop()
            for y in nbrs[x]:
                if inside[y] and y not in seen:
                    seen.add(y)
                    stack.append(y)
    return pieces


def _move_back(
    instance: PartitionInstance,
    result: PartitionResult,
    prev: npt.NDArray[np.int64],
    config: PartitionConfig,
    solver: GridPartitioner,
    *,
    trade: bool = False,
) -> PartitionResult:
    """Move buildings back to their previous grid where that costs no grid its band.

    The searches price a moved household against balance and compactness, and
    a plan drawn afresh is matched to the previous grids only as a whole; both
    leave buildings in a new grid that their previous grid could take back.
    A building returns to its previous grid (still in the plan) when it touches
    it across no major street, river or rail line, when neither grid leaves
    the band (nor vanishes) by it, when the grid it leaves keeps a household
    and splits into no more pieces over such links. With ``trade`` (a plan
    moving more than ``--max-moved``: stability first) a grid may leave the
    band, or vanish, where another enters it: the two then hold no more grids
    out of band than before. Locked buildings and grids, buildings
    above the maximum and buildings of a compound ``--keep-compounds`` keeps
    whole stay. Households return before buildings holding none, larger first;
    passes repeat until nothing returns. A building that returns no longer
    counts as moved (CONTRACT §6), so the moved households only fall.
    """
    lab = np.asarray(result.labels, dtype=np.int64).copy()
    both = prev >= 0
    if not (both & (lab != prev)).any():
        return result
    value = solver.value
    hh = np.asarray(instance.households, dtype=np.int64)
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    soft = e[~np.asarray(instance.edge_hard, dtype=bool)] if len(e) else e
    nbrs = adjacency_lists(instance.n, soft, np.ones(instance.n, dtype=bool))
    links = adjacency_lists(instance.n, e, np.ones(instance.n, dtype=bool))
    parts = solver._kept_parts()
    still = (solver.locked < 0) & ~solver.over
    if parts is not None:
        still &= parts < 0
    frozen = set(lab[~((solver.locked < 0) & ~solver.over)].tolist())
    totals = np.bincount(lab, weights=value, minlength=max(int(lab.max()), int(prev.max())) + 1)
    counts = np.bincount(lab, minlength=len(totals))
    cap = config.grid_cap
    returned = 0
    changed = True
    while changed:
        changed = False
        moved = np.flatnonzero(both & (lab != prev) & still)
        for u in moved[np.lexsort((moved, -hh[moved]))].tolist():
            a, b = int(lab[u]), int(prev[u])
            if a == b or b >= len(counts) or counts[b] == 0 or a in frozen or b in frozen:
                continue
            if not any(lab[y] == b for y in nbrs[u]):
                continue
            va, vb = totals[a] - value[u], totals[b] + value[u]
            if not trade and value[u] > 0 and vb > cap:
                # band first: no grid above max + band width (as merges); with ``trade``
                # (stability first) a previous grid may come back as large as the data made it
                continue
            # no grid in band leaves it (nor vanishes) — with ``trade``, no more grids out
            # of band — and a grid of buildings without households is left to nobody
            if trade:
                before = (not config.in_band(totals[a])) + (not config.in_band(totals[b]))
                after = (counts[a] > 1 and not config.in_band(va)) + (not config.in_band(vb))
                if after > before:
                    continue
            elif (config.in_band(totals[a]) and not (counts[a] > 1 and config.in_band(va))) or (
                config.in_band(totals[b]) and not config.in_band(vb)
            ):
                continue
            if counts[a] > 1 and va <= 0:
                continue
            if counts[a] > 1:
                mine = lab == a
                units = np.flatnonzero(mine).tolist()
                # no more pieces across barriers, and still connected over every link
                pieces = _pieces(units, nbrs, mine)
                mine[u] = False
                units.remove(u)
                if _pieces(units, nbrs, mine) > pieces or _pieces(units, links, mine) > 1:
                    continue
            lab[u] = b
            totals[a], totals[b] = va, vb
            counts[a] -= 1
            counts[b] += 1
            returned += 1
            changed = True
    if not returned:
        return result
    note = f"{returned} building(s) went back to their previous grid at no cost to the band"
    return _relabelled(instance, result, lab, prev, config, solver, note)


def _within(
    instance: PartitionInstance,
    result: PartitionResult,
    prev: npt.NDArray[np.int64],
    config: PartitionConfig,
    solver: GridPartitioner,
) -> PartitionResult:
    """Buildings back to their previous grids; trading band for stability above ``max_moved``.

    First the grids take the labels of the previous grids they share most
    households with, where that moves fewer (:func:`_best_labels`): the codes
    the plan is written with follow the same matching, so the shares moved that
    the re-plan weighs and notes are those of the plan written.
    """
    best = _best_labels(instance, result.labels, prev)
    if best is not result.labels:
        result = _relabelled(instance, result, best, prev, config, solver, None)
    result = _move_back(instance, result, prev, config, solver)
    if moved_share(instance, result.labels, prev) > config.max_moved + 1e-9:
        result = _move_back(instance, result, prev, config, solver, trade=True)
    return result


def _relabelled(  # noqa: PLR0917 - private, the two post-passes' common end
    instance: PartitionInstance,
    result: PartitionResult,
    lab: npt.NDArray[np.int64],
    prev: npt.NDArray[np.int64],
    config: PartitionConfig,
    solver: GridPartitioner,
    note: str | None,
) -> PartitionResult:
    """``result`` with new labels, re-measured; ``result`` itself when a check fails.

    The band's bound is measured again when the largest grid changes the size it
    assumes (:func:`~gridder.partition.lowerbound.plan_cap`): a bound for grids of
    at most 400 said less than a kept plan with a grid of 462 holds.
    """
    report = check_partition(instance, lab, config)
    if not report.ok:
        return result
    quality = partition_quality(instance, lab, config)
    out_of_band = quality.n_counted - quality.n_in_band
    lb = result.lower_bound
    bound = result.bound
    cap = plan_cap(instance, lab, config)
    if cap != lb.cap:
        lb = solver._band_bound(cap, out_of_band)
        if result.bound_kind == "band_lower_bound":
            bound = float(config.weights.out_of_band * lb.min_out_of_band)
    objective = plan_objective(instance, lab, config, previous=prev)
    zb = solver._zone_bound(instance, lab)  # as keep_start: the plan's zones
    if note is not None:
        logger.info("%s: %s", instance.community_id, note)
    return replace(
        result,
        labels=lab,
        n_grids=len(np.unique(lab)),
        grids=grid_stats(instance, lab, config),
        quality=quality,
        out_of_band=out_of_band,
        objective=objective,
        bound=bound,
        gap=(objective - bound) / objective if objective > 0 else 0.0,
        lower_bound=lb,
        loose_bound=tuple(code for code, _ in loose_bound_reasons(lb, out_of_band, config)),
        zone_bound=zb,
        region_bound=zb,
        above_proven_zone_bound=out_of_band_above_proven(instance, config, lab, zb),
        notes=result.notes if note is None else (*result.notes, note),
    )


def _best_labels(
    instance: PartitionInstance, labels: npt.ArrayLike, prev: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``labels``, or the same grids matched to the previous ones when that moves fewer.

    A grid the searches labelled afresh may continue a previous grid (most of
    its households): :func:`match_labels` gives it that grid's label, as the
    plan's codes would (:func:`~gridder.polygons.assign_grid_codes`).
    """
    lab = np.asarray(labels, dtype=np.int64)
    locked = np.asarray(instance.locked, dtype=np.int64)
    fixed = locked[locked >= 0].tolist() if len(locked) == instance.n else []
    matched = match_labels(lab, prev, instance.households, fixed=fixed)
    if moved_share(instance, matched, prev) < moved_share(instance, lab, prev) - 1e-12:
        return matched
    return lab


def match_labels(
    labels: npt.ArrayLike,
    previous: npt.ArrayLike,
    weight: npt.ArrayLike,
    *,
    fixed: Iterable[int] = (),
) -> npt.NDArray[np.int64]:
    """Relabel a plan so that its grids take the labels of the previous grids they overlap most.

    Pairs (new grid, previous grid) are taken by decreasing shared ``weight``
    (households; a unit holding none counts 1e-6), each label at most once;
    ``fixed`` labels (locked grids) keep themselves. A grid matching no previous
    grid takes a label no previous grid had.
    """
    lab = np.asarray(labels, dtype=np.int64)
    prev = np.asarray(previous, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64) + 1e-6
    keep = {int(x) for x in fixed}
    shared: dict[tuple[int, int], float] = {}
    for a, b, x in zip(lab.tolist(), prev.tolist(), w.tolist(), strict=True):
        if b >= 0 and a not in keep and b not in keep:
            shared[a, b] = shared.get((a, b), 0.0) + x
    to: dict[int, int] = {g: g for g in keep}
    used = set(keep)
    for (a, b), _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0])):
        if a not in to and b not in used:
            to[a] = b
            used.add(b)
    taken = used | {int(x) for x in prev if x >= 0}
    nxt = 0
    for a in sorted(set(lab.tolist()) - set(to)):
        while nxt in taken:
            nxt += 1
        to[a] = nxt
        taken.add(nxt)
    return np.array([to[int(a)] for a in lab], dtype=np.int64)


def _matched(
    instance: PartitionInstance,
    fresh: PartitionResult,
    prev: npt.NDArray[np.int64],
    config: PartitionConfig,
    replanned: PartitionResult,
    *,
    compounds: bool = False,
) -> PartitionResult:
    """A fresh plan with its grids matched to the previous plan's labels."""
    locked = np.asarray(instance.locked, dtype=np.int64)
    fixed = locked[locked >= 0].tolist() if len(locked) == instance.n else []
    labels = match_labels(fresh.labels, prev, instance.households, fixed=fixed)
    objective = plan_objective(instance, labels, config, previous=prev)
    moved = moved_share(instance, labels, prev)
    why = (
        "re-planning from the previous grids split a compound --keep-compounds keeps whole"
        if compounds
        else f"re-planning from the previous grids left {replanned.out_of_band} grid(s) out "
        f"of band, a fresh plan {fresh.out_of_band}"
    )
    note = (
        f"drawn afresh: {why}; its grids take the codes "
        f"of the previous grids they share most households with ({moved:.0%} of households "
        "moved)"
    )
    return replace(
        fresh,
        labels=labels,
        grids=grid_stats(instance, labels, config),
        quality=partition_quality(instance, labels, config),
        objective=objective,
        gap=(objective - fresh.bound) / objective if objective > 0 else 0.0,
        notes=(*fresh.notes, note),
    )


def rebalance(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    grids: Iterable[int],
    config: PartitionConfig | None = None,
    *,
    seed: int | None = None,
) -> PartitionResult:
    """Rebalance the neighbourhood of some grids of a plan, leaving the rest alone.

    Parameters
    ----------
    instance
        The community.
    labels
        The current labels (e.g. after a hand edit).
    grids
        Labels of the grids to rebalance (with their neighbours).
    config
        Band and weights.
    seed
        Overrides the per-community seed.
    """
    lab = np.asarray(labels, dtype=np.int64)
    solver = GridPartitioner(instance, config, seed=seed)
    return solver.improve(_start(instance, lab), previous=lab, focus=list(grids))


def moved_share(
    instance: PartitionInstance, labels: npt.ArrayLike, previous: npt.ArrayLike
) -> float:
    """Households of units present in both plans whose grid changed, over theirs (CONTRACT §6)."""
    lab = np.asarray(labels, dtype=np.int64)
    prev = np.asarray(previous, dtype=np.int64)
    hh = np.asarray(instance.households, dtype=np.float64)
    both = prev >= 0
    total = float(hh[both].sum())
    return float(hh[both & (lab != prev)].sum() / total) if total > 0 else 0.0
