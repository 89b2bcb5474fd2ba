"""Re-draw an out-of-band grid and one neighbour together, building by building.

The solver works on super-units (household-less buildings glued to the nearest
building holding households), so a grid can be out of band only because the
path to a small neighbour runs through household-less buildings glued to
somebody else: a 187-household block whose only ways out are a 130 and an 86
next to it, while a 17 lies three empty cells away. Here the two grids are
re-drawn on the original buildings by one small CP-SAT model: each building
goes to one of the two grids, each grid stays connected (a single-commodity
flow from a root, the classic contiguity model), and the model minimises the
grids out of band, then the deviation from the target, then the buildings that
change grid. A pair is re-drawn only when fewer of its grids are out of band.
Deterministic: one worker, a deterministic time limit, pairs in label order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import out_of_band_grids
from gridder.partition.cpsat import deterministic_solver
from gridder.partition.instance import PartitionInstance
from gridder.partition.regionrepair import add_connected, compound_ties

__all__ = ["repair_pairs"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]

#: Largest number of buildings in one pair model.
_MAX_UNITS = 120
#: Cost of one grid out of band, against one household of deviation.
_OUT_COST = 100_000
#: Cost of one building changing grid.
_MOVE_COST = 1


def repair_pairs(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    config: PartitionConfig,
    *,
    value: IntArray,
    movable: npt.NDArray[np.bool_],
    frozen: Sequence[int] = (),
    seed: int = 0,
    time_limit: float = 0.5,
    total_time: float = 2.0,
    max_pairs: int = 8,
    together: IntArray | None = None,
) -> tuple[IntArray, int]:
    """Re-draw each out-of-band grid with one neighbour when that brings one into band.

    Parameters
    ----------
    instance
        The community.
    labels
        Grid label per unit.
    config
        The band.
    value
        Balance value per unit.
    movable
        Units that may change grid (free units).
    frozen
        Labels that must not change (locked grids, single buildings above the maximum).
    seed, time_limit
        CP-SAT seed and deterministic time per pair.
    total_time
        Deterministic time for all pairs.
    max_pairs
        Largest number of pair models.
    together
        Per unit, a compound part ``--keep-compounds`` keeps in one grid
        (``-1``: none; :func:`~gridder.partition.regionrepair.compound_ties`).

    Returns
    -------
    tuple
        The new labels and the number of pairs re-drawn.
    """
    lab = np.asarray(labels, dtype=np.int64).copy()
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    skip = {int(x) for x in frozen}
    done = tried = 0
    spent = 0.0
    while tried < max_pairs:
        bad = [g for g in out_of_band_grids(lab, value, config) if g not in skip]
        if not bad:
            break
        made = False
        for g in bad:
            inside = lab == g
            touching = e[inside[e[:, 0]] ^ inside[e[:, 1]]]
            others = np.where(inside[touching[:, 0]], lab[touching[:, 1]], lab[touching[:, 0]])
            for h in sorted(set(others.tolist()) - skip - {g}):
                if tried >= max_pairs:
                    break
                tried += 1
                units = np.flatnonzero((lab == g) | (lab == h))
                if len(units) > _MAX_UNITS or not movable[units].all():
                    continue
                pair_total = float(value[units].sum())
                h_in = config.in_band(float(value[lab == h].sum()))
                if h_in and not 2 * config.min <= pair_total <= 2 * config.max:
                    continue  # one grid out of band now, and two cannot both be in band
                if spent >= total_time:
                    return lab, done
                out, used = _redraw(
                    instance,
                    lab,
                    units,
                    (g, h),
                    config=config,
                    value=value,
                    seed=seed,
                    time_limit=min(time_limit, total_time - spent),
                    together=together,
                )
                spent += used
                if out is not None:
                    lab[units] = out
                    done += 1
                    made = True
                    break
            if made:
                break
        if not made:
            break
    if done:
        logger.debug("%s: %d pair(s) re-drawn building by building", instance.community_id, done)
    return lab, done


def _redraw(
    instance: PartitionInstance,
    lab: IntArray,
    units: IntArray,
    pair: tuple[int, int],
    *,
    config: PartitionConfig,
    value: IntArray,
    seed: int,
    time_limit: float,
    together: IntArray | None = None,
) -> tuple[IntArray | None, float]:
    """Re-draw a pair of grids on their buildings.

    Returns the labels of ``pair`` for ``units`` when fewer grids are out of
    band (else ``None``), and the deterministic time used.
    """
    g, h = pair
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    hard = np.asarray(instance.edge_hard, dtype=bool)
    n = len(units)
    local = {int(u): i for i, u in enumerate(units.tolist())}
    both = np.isin(e[:, 0], units) & np.isin(e[:, 1], units)
    pairs = [(local[int(a)], local[int(b)]) for a, b in e[both].tolist()]
    is_hard = hard[both].tolist()
    val = [int(value[u]) for u in units.tolist()]
    now_g = [int(lab[u]) == g for u in units.tolist()]
    before = sum(
        not config.in_band(sum(v for v, a in zip(val, now_g, strict=True) if a == side))
        for side in (True, False)
    )
    # hard edges inside either grid now may stay inside; no new ones
    allowed_hard = {k for k, (a, b) in enumerate(pairs) if is_hard[k] and now_g[a] == now_g[b]}
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"g{i}") for i in range(n)]  # true: grid g
    total = sum(val)
    s_g = cp_model.LinearExpr.weighted_sum(x, val)
    in_g, in_h = m.new_bool_var("in_g"), m.new_bool_var("in_h")
    m.add(s_g >= config.min).only_enforce_if(in_g)
    m.add(s_g <= config.max).only_enforce_if(in_g)
    m.add(total - s_g >= config.min).only_enforce_if(in_h)
    m.add(total - s_g <= config.max).only_enforce_if(in_h)
    for k, (a, b) in enumerate(pairs):
        if is_hard[k] and k not in allowed_hard:
            m.add(x[a] != x[b])
    same, pinned = compound_ties(units, lab, together)
    for a, b in same:  # a compound part kept whole stays in one grid
        m.add(x[a] == x[b])
    for i in pinned:
        m.add(x[i] == now_g[i])
    for side in (True, False):
        add_connected(m, [x[i] if side else x[i].Not() for i in range(n)], pairs)
    dev_g = m.new_int_var(0, total, "dev_g")
    dev_h = m.new_int_var(0, total, "dev_h")
    m.add_abs_equality(dev_g, s_g - config.target)
    m.add_abs_equality(dev_h, total - s_g - config.target)
    moved = [x[i].Not() if now_g[i] else x[i] for i in range(n)]
    m.minimize(
        _OUT_COST * (2 - in_g - in_h) + dev_g + dev_h + _MOVE_COST * cp_model.LinearExpr.sum(moved)
    )
    for i in range(n):
        m.add_hint(x[i], now_g[i])
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit)
    status = solver.solve(m)
    used = float(solver.deterministic_time)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, used
    chosen = [bool(solver.boolean_value(xi)) for xi in x]
    if all(chosen) or not any(chosen):
        return None, used
    got = sum(v for v, a in zip(val, chosen, strict=True) if a)
    after = int(not config.in_band(got)) + int(not config.in_band(total - got))
    if after >= before:
        return None, used
    return np.where(np.array(chosen), g, h).astype(np.int64), used
