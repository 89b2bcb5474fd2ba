"""Compactness polish: move boundary buildings between grids to raise Polsby–Popper.

The solver works on super-units (buildings without households are attached to
a neighbour holding households), which leaves the household-less cells of a
grid on long, thin attachment paths: on the Helsinki demo most cells hold no
household, and the grid polygons come out ragged. This step works on the
original units after the plan is made. A unit moves into an adjacent grid when

* the grid it leaves stays connected (on every edge, as the checker counts);
* neither grid moves away from the band: ``out_of_band(value)`` of each of
  the two grids does not rise (an in-band grid stays in band, an
  out-of-band one does not move further out);
* no grid gains a compound class (小区) or a hard-barrier edge inside;
* ``compactness × ΔΣ Polsby–Popper`` exceeds the change of the solver's
  shape terms (weighted cut, household inertia, deviation from the target).

Polsby–Popper ``4πA/P²`` of a grid comes from its cells: ``A`` = Σ cell
areas, ``P`` = Σ cell perimeters − 2 Σ shared lengths inside the grid. The
instance holds the shared lengths (``edge_length``) but not the part of a
cell's outline on the community boundary, so a cell's perimeter is taken as
``max(Σ its shared lengths, 5√A)`` (the second term, the perimeter of a shape
of the cell's area with Polsby–Popper ≈ 0.5, stands in for boundary cells): a
proxy, exact for interior cells.
Moving a unit changes Σ perimeters by ``2 (L(u, old) − L(u, new))`` whatever
the proxy, so only the ratio's level depends on it.

Deterministic: units are visited in index order, candidate grids in label order.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import INERTIA_SCALE, edge_cut_cost, out_of_band
from gridder.partition.instance import PartitionInstance

__all__ = ["compactness_polish", "unit_perimeter_proxy"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Perimeter of a cell of area ``A`` when its shared lengths say less: ``K·√A`` is
#: the perimeter of a shape with Polsby–Popper ``4π/K²`` ≈ 0.5 (tessellation cells
#: of the Helsinki demo have a median of 0.45).
_CELL_K = 5.0


def unit_perimeter_proxy(instance: PartitionInstance) -> FloatArray:
    """Per unit, ``max(Σ shared boundary lengths, 5√area)`` in metres (see module)."""
    n = instance.n
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    length = np.asarray(instance.edge_length, dtype=np.float64)
    inc = np.bincount(e.ravel(), weights=np.repeat(length, 2), minlength=n)
    area = np.nan_to_num(np.asarray(instance.area, dtype=np.float64))
    out: FloatArray = np.maximum(inc, _CELL_K * np.sqrt(np.maximum(area, 0.0)))
    return out


def _pp(area: float, perim: float) -> float:
    return 4.0 * math.pi * area / (perim * perim) if perim > 1e-9 and area > 0 else 0.0


class _Grid:
    __slots__ = ("area", "classes", "members", "perim", "sx", "sxx", "sy", "value")

    def __init__(self) -> None:
        self.members: set[int] = set()
        self.area = 0.0
        self.perim = 0.0
        self.value = 0.0
        self.sx = 0.0
        self.sy = 0.0
        self.sxx = 0.0
        self.classes: dict[int, int] = {}

    def inertia(self, dv: float = 0.0, dx: float = 0.0, dy: float = 0.0, dxx: float = 0.0) -> float:
        v = self.value + dv
        if v <= 0:
            return 0.0
        sx, sy = self.sx + dx, self.sy + dy
        return max(0.0, self.sxx + dxx - (sx * sx + sy * sy) / v)


def compactness_polish(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    config: PartitionConfig,
    *,
    value: npt.ArrayLike,
    movable: npt.ArrayLike,
    frozen: Sequence[int] = (),
    move_valued: bool = True,
    passes: int | None = None,
) -> tuple[IntArray, int, bool]:
    """Raise the grids' Polsby–Popper by moving boundary units (see the module).

    Parameters
    ----------
    instance
        The community.
    labels
        Grid label per unit (every grid connected).
    config
        Band, weights (``weights.compactness`` prices ΣPP) and
        ``compactness_passes``.
    value
        Balance value per unit.
    movable
        Per unit, whether it may move (free units).
    frozen
        Labels of grids that neither give nor take units.
    move_valued
        Whether units holding value may move (``False``: only value-less ones,
        e.g. when re-planning counts moved households).
    passes
        Largest number of passes (default ``config.compactness_passes``).

    Returns
    -------
    tuple
        The new labels, the number of moves, and whether the pass limit stopped it.
    """
    lab = np.asarray(labels, dtype=np.int64).copy()
    n = instance.n
    passes = config.compactness_passes if passes is None else passes
    lam = float(config.weights.compactness)
    if n == 0 or passes <= 0 or lam <= 0:
        return lab, 0, False
    w = config.weights
    val = np.asarray(value, dtype=np.float64)
    mov = np.asarray(movable, dtype=bool)
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    length = np.asarray(instance.edge_length, dtype=np.float64)
    hard = np.asarray(instance.edge_hard, dtype=bool)
    ccost = edge_cut_cost(instance, config)
    area = np.nan_to_num(np.asarray(instance.area, dtype=np.float64))
    uper = unit_perimeter_proxy(instance)
    comp = np.asarray(instance.compound, dtype=np.int64)
    xy = np.asarray(instance.xy, dtype=np.float64).reshape(-1, 2)
    xy = xy - xy.mean(axis=0)
    nbrs: list[list[tuple[int, float, float, bool]]] = [[] for _ in range(n)]
    rows = zip(e.tolist(), length.tolist(), ccost.tolist(), hard.tolist(), strict=True)
    for (a, b), ln, cc, hd in rows:
        nbrs[a].append((b, ln, cc, hd))
        nbrs[b].append((a, ln, cc, hd))

    cells = _Cells(area, uper, val, xy, comp)
    grids: dict[int, _Grid] = {}
    for u in range(n):
        st = grids.setdefault(int(lab[u]), _Grid())
        cells.shift(st, u, 1.0)
    for (a, b), ln in zip(e.tolist(), length.tolist(), strict=True):
        if lab[a] == lab[b]:
            grids[int(lab[a])].perim -= 2.0 * ln
    frozen_set = set(frozen)

    def band_cost(v: float) -> float:
        out = out_of_band(v, config)
        return w.out_household * out + w.deviation * abs(v - config.target)

    moves = 0
    for _ in range(passes):
        changed = 0
        for u in range(n):
            g = int(lab[u])
            if not mov[u] or g in frozen_set or (val[u] > 0 and not move_valued):
                continue
            by: dict[int, list[float]] = {}  # grid -> [shared length, cut cost, hard edges]
            for j, ln, cc, hd in nbrs[u]:
                rec = by.setdefault(int(lab[j]), [0.0, 0.0, 0.0])
                rec[0] += ln
                rec[1] += cc
                rec[2] += float(hd)
            if all(h == g for h in by):
                continue
            own = by.get(g, [0.0, 0.0, 0.0])
            sg = grids[g]
            if len(sg.members) <= 1:
                continue
            vu = float(val[u])
            x, y = float(xy[u, 0]), float(xy[u, 1])
            xx = x * x + y * y
            cu = int(comp[u])
            pg_new = sg.perim - uper[u] + 2.0 * own[0]
            ag_new = sg.area - area[u]
            base_g = _pp(sg.area, sg.perim)
            dpp_g = _pp(ag_new, pg_new) - base_g
            og, og_new = out_of_band(sg.value, config), out_of_band(sg.value - vu, config)
            if og_new > og + 1e-9:
                continue
            dshape_g = 0.0
            if vu > 0:
                dshape_g = (
                    w.inertia
                    * (sg.inertia(-vu, -vu * x, -vu * y, -vu * xx) - sg.inertia())
                    / INERTIA_SCALE
                    + band_cost(sg.value - vu)
                    - band_cost(sg.value)
                )
            best_h, best_s = -1, 1e-6
            for h in sorted(by):
                if h == g or h in frozen_set:
                    continue
                sh = grids[h]
                rec = by[h]
                if rec[2] > own[2]:  # more hard edges inside than before
                    continue
                if sh.classes.get(cu, 0) == 0:
                    continue  # h would gain a compound class
                oh, oh_new = out_of_band(sh.value, config), out_of_band(sh.value + vu, config)
                if oh_new > oh + 1e-9:
                    continue
                dpp = (
                    dpp_g
                    + _pp(sh.area + area[u], sh.perim + uper[u] - 2.0 * rec[0])
                    - _pp(sh.area, sh.perim)
                )
                dcut = 2.0 * (own[1] - rec[1])
                dshape = dshape_g + dcut
                if vu > 0:
                    dshape += (
                        w.inertia
                        * (sh.inertia(vu, vu * x, vu * y, vu * xx) - sh.inertia())
                        / INERTIA_SCALE
                        + band_cost(sh.value + vu)
                        - band_cost(sh.value)
                    )
                s = lam * dpp - dshape
                if s > best_s:
                    best_h, best_s = h, s
            if best_h < 0 or not _stays_connected(u, g, lab, nbrs):
                continue
            cells.shift(sg, u, -1.0)
            sg.perim += 2.0 * own[0]
            sh = grids[best_h]
            cells.shift(sh, u, 1.0)
            sh.perim -= 2.0 * by[best_h][0]
            lab[u] = best_h
            changed += 1
        moves += changed
        if not changed:
            return lab, moves, False
    return lab, moves, True


class _Cells:
    """Per-unit arrays the grid statistics are made of."""

    __slots__ = ("area", "comp", "perim", "val", "xy")

    def __init__(
        self, area: FloatArray, perim: FloatArray, val: FloatArray, xy: FloatArray, comp: IntArray
    ) -> None:
        self.area, self.perim, self.val, self.xy, self.comp = area, perim, val, xy, comp

    def shift(self, st: _Grid, u: int, sign: float) -> None:
        """Add (``sign`` = 1) or remove (−1) unit ``u`` to/from ``st`` (shared lengths aside)."""
        v = sign * float(self.val[u])
        x, y = float(self.xy[u, 0]), float(self.xy[u, 1])
        if sign > 0:
            st.members.add(u)
        else:
            st.members.discard(u)
        st.area += sign * float(self.area[u])
        st.perim += sign * float(self.perim[u])
        st.value += v
        st.sx += v * x
        st.sy += v * y
        st.sxx += v * (x * x + y * y)
        c = int(self.comp[u])
        left = st.classes.get(c, 0) + int(sign)
        if left:
            st.classes[c] = left
        else:
            del st.classes[c]


def _stays_connected(
    u: int, g: int, lab: IntArray, nbrs: list[list[tuple[int, float, float, bool]]]
) -> bool:
    """Whether grid ``g`` stays connected without ``u`` (every edge counts, as in the checker)."""
    inner = sorted({j for j, _, _, _ in nbrs[u] if lab[j] == g})
    if not inner:
        return False
    if len(inner) == 1:
        return True
    want = set(inner[1:])
    seen = {inner[0], u}
    queue = deque([inner[0]])
    while queue and want:
        a = queue.popleft()
        for b, _, _, _ in nbrs[a]:
            if b not in seen and lab[b] == g:
                seen.add(b)
                want.discard(b)
                queue.append(b)
    return not want
