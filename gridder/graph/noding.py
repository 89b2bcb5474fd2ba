"""Noding plain street lines: split where they cross, join ends that nearly touch.

Planners' line files are rarely noded. :func:`node_lines` splits lines where they cross
(only between lines on the same level, so that a bridge is not joined to the street
under it) and joins an end lying within a tolerance of another line with a short
connector. :func:`line_substrings` cuts many pieces out of many lines in one vectorised
pass; isochrones reuse it to cut edges at the exact remaining distance.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gridder.graph.walkable import text_column

__all__ = ["line_levels", "line_substrings", "node_lines"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GeomArray = npt.NDArray[np.object_]


def line_substrings(
    lines: GeomArray, line_index: IntArray, start: FloatArray, end: FloatArray
) -> GeomArray:
    """Cut pieces out of lines, vectorised.

    Piece ``k`` is ``lines[line_index[k]]`` from ``start[k]`` to ``end[k]`` metres.

    Positions are clipped to ``[0, length]``; a piece with ``end <= start`` yields ``None``.
    """
    line_index = np.asarray(line_index, dtype=np.int64)
    m = len(line_index)
    out = np.full(m, None, dtype=object)
    if m == 0:
        return out
    lengths = shapely.length(lines[line_index])
    a = np.clip(np.asarray(start, dtype=float), 0.0, lengths)
    b = np.clip(np.asarray(end, dtype=float), 0.0, lengths)
    keep = np.flatnonzero(b > a)
    if len(keep) == 0:
        return out
    li, a, b = line_index[keep], a[keep], b[keep]
    used, inverse = np.unique(li, return_inverse=True)
    coords, owner = shapely.get_coordinates(lines[used], return_index=True)
    seg = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    seg[np.diff(owner) != 0] = 0.0
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    first = np.searchsorted(owner, np.arange(len(used)))
    cum -= cum[first][owner]
    big = float(np.ceil(cum.max() if len(cum) else 0.0)) + 1.0
    key = cum + owner * big
    lo = np.searchsorted(key, a + inverse * big, side="right")
    hi = np.searchsorted(key, b + inverse * big, side="left")
    inner = np.maximum(hi - lo, 0)
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(lines[li], a))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(lines[li], b))
    counts = inner + 2
    total = int(counts.sum())
    piece = np.repeat(np.arange(len(li)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(total) - starts[piece]
    xy = np.empty((total, 2))
    is_first = pos == 0
    is_last = pos == counts[piece] - 1
    mid = ~(is_first | is_last)
    xy[is_first] = p0
    xy[is_last] = p1
    xy[mid] = coords[lo[piece[mid]] + pos[mid] - 1]
    out[keep] = shapely.linestrings(xy, indices=piece)
    return out


def line_levels(frame: pd.DataFrame) -> IntArray:
    """Return each line's level: ``layer`` if given, else 1 for bridges, -1 for tunnels, else 0."""
    n = len(frame)
    level = np.zeros(n, dtype=np.int64)
    if "layer" in frame.columns:
        lay = pd.to_numeric(frame["layer"], errors="coerce")
        has = lay.notna().to_numpy()
        level[has] = lay.to_numpy()[has].astype(np.int64)
    else:
        has = np.zeros(n, dtype=bool)
    bridge = ~np.isin(text_column(frame, "bridge"), ["", "no", "0", "false"])
    tunnel = ~np.isin(text_column(frame, "tunnel"), ["", "no", "0", "false"])
    level[bridge & ~has] = 1
    level[tunnel & ~has] = -1
    return level


def node_lines(
    lines: GeomArray, owner: IntArray, level: IntArray, tolerance: float
) -> tuple[GeomArray, IntArray]:
    """Split lines where they cross (same level) and join ends near another line.

    Returns the pieces and, for each, the ``owner`` of the line it came from (connectors
    carry the owner of the line whose end they join).
    """
    n = len(lines)
    tree = shapely.STRtree(lines)
    split_line: list[IntArray] = []
    split_pos: list[FloatArray] = []
    first = shapely.get_coordinates(shapely.get_point(lines, 0))
    last = shapely.get_coordinates(shapely.get_point(lines, -1))
    # crossings between lines on the same level; two straight segments sharing an end
    # meet only there (or overlap), so only the other pairs are intersected
    i, j = tree.query(lines, predicate="intersects")
    sel = (i < j) & (level[i] == level[j])
    i, j = i[sel], j[sel]
    shared_end = np.zeros(len(i), dtype=bool)
    for a in (first, last):
        for b in (first, last):
            shared_end |= (a[i] == b[j]).all(axis=1)
    ncoords = shapely.get_num_coordinates(lines)
    need = ~shared_end | (ncoords[i] > 2) | (ncoords[j] > 2)
    i, j = i[need], j[need]
    if len(i):
        inter = shapely.intersection(lines[i], lines[j])
        pts, which = shapely.get_coordinates(inter, return_index=True)
        if len(pts):
            p = shapely.points(pts)
            for side in (i, j):
                split_line.append(side[which])
                split_pos.append(shapely.line_locate_point(lines[side[which]], p))
    # ends within the tolerance of another line on the same level; an end that is
    # already an end of that line needs nothing
    end_xy = np.vstack([first, last])
    end_owner = np.concatenate([np.arange(n), np.arange(n)])
    connectors: list[Any] = []
    connector_owner: list[IntArray] = []
    if tolerance > 0:
        ends = shapely.points(end_xy)
        k, t = tree.query(ends, predicate="dwithin", distance=tolerance)
        shared = (end_xy[k] == first[t]).all(axis=1) | (end_xy[k] == last[t]).all(axis=1)
        sel = (end_owner[k] != t) & (level[end_owner[k]] == level[t]) & ~shared
        k, t = k[sel], t[sel]
        if len(k):
            pos = shapely.line_locate_point(lines[t], ends[k])
            split_line.append(t)
            split_pos.append(pos)
            proj = shapely.line_interpolate_point(lines[t], pos)
            far = shapely.distance(ends[k], proj) > 1e-9
            if far.any():
                connectors.append(
                    shapely.linestrings(
                        np.stack([end_xy[k][far], shapely.get_coordinates(proj[far])], axis=1)
                    )
                )
                connector_owner.append(owner[end_owner[k][far]])
    lengths = shapely.length(lines)
    if split_line:
        cut_line = np.concatenate(split_line)
        cut_pos = np.concatenate(split_pos)
        inner = (cut_pos > 1e-9) & (cut_pos < lengths[cut_line] - 1e-9)
        cut_line, cut_pos = cut_line[inner], cut_pos[inner]
    else:
        cut_line, cut_pos = np.zeros(0, dtype=np.int64), np.zeros(0)
    # lines with no cut stay whole; the others are cut at every position
    cut = np.unique(cut_line)
    whole = np.setdiff1d(np.arange(n), cut)
    all_line = np.concatenate([cut, cut, cut_line])
    all_pos = np.concatenate([np.zeros(len(cut)), lengths[cut], cut_pos])
    order = np.lexsort((all_pos, all_line))
    all_line, all_pos = all_line[order], all_pos[order]
    same = (all_line[1:] == all_line[:-1]) & (all_pos[1:] - all_pos[:-1] > 1e-9)
    idx = np.flatnonzero(same)
    cut_pieces = line_substrings(lines, all_line[idx], all_pos[idx], all_pos[idx + 1])
    good = cut_pieces != None  # noqa: E711  (object array comparison)
    pieces = np.concatenate([lines[whole], cut_pieces[good]])
    piece_owner = np.concatenate([owner[whole], owner[all_line[idx]][good]])
    if connectors:
        pieces = np.concatenate([pieces, *connectors])
        piece_owner = np.concatenate([piece_owner, *connector_owner])
    log.info("noded %d lines into %d pieces", n, len(pieces))
    return pieces, np.asarray(piece_owner, dtype=np.int64)
