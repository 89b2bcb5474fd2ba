"""A tessellation of one community around its buildings: blocks first, then Voronoi cells.

The community is cut into *blocks* by its street lines (and by barrier and
compound outlines when given); inside each block the land is split between the
block's buildings by the Voronoi diagram of their points. All the linework
(community outline, cutters, Voronoi ridges clipped to their block) is noded
once with snap rounding on a 1 mm grid and polygonised into *faces*, so that the
faces form an exact polygonal coverage: shared edges carry identical vertices,
which makes the dissolve into cells and grids exact (``coverage_union``) and the
shared boundary lengths exact.

Each face belongs to one building (its *owner*). A *strip* — a block holding no
building beside blocks with buildings other than across a street, such as the
land between a compound's wall and its streets — is split between the blocks
beside it (each part of the strip goes to the block nearest to it) and, within
each block's share, by the Voronoi diagram of that block's buildings; what the
strip cannot give that way waits for a cell beside it rather than go across a
street. Land a building's cell cannot keep — any other block
holding no building, a piece of a Voronoi cell cut off by a concave block, a
sliver of the snapping — goes to the neighbouring cell with the longest shared
edge; a part of a multi-part community holding no building goes
to the nearest cell (which then becomes a MultiPolygon, the only way a cell can).

Two options refine this: *footprints* (their outlines are noded in, and the land
under a footprint goes to its own building, so that grid boundaries run around
buildings rather than through them) and *zones* such as locked grids (their
outlines cut blocks, and land inside a zone stays with the zone's buildings, so
that the zone's outline is kept exactly).

Everything runs on shapely 2 arrays, one ``union_all`` + ``polygonize`` and a
few STRtree / KD-tree queries: no loop over buildings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from gridder.errors import GridderError
from gridder.graph.generators import (
    GRID_SIZE,
    clean_community,
    onto_community,
    place_generators,
    points_in,
)

__all__ = [
    "GRID_SIZE",
    "FaceTessellation",
    "polygonize_inside",
    "tessellate",
]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
GeomArray = npt.NDArray[np.object_]

_BLOCK_SPACING: Final = 1.0e8  # z offset separating blocks in the owner KD-tree
#: A block outline this close (metres) to a street or barrier line runs along it: twice
#: the snapping grid, so that a wall 3 cm inside its street still makes a strip.
_ON_STREET: Final = 2 * GRID_SIZE
#: How far (metres) a generator moves off a zone's outline onto its building's side.
_NUDGE: Final = 0.05
#: A block without buildings sharing more boundary than this (metres) with a
#: block of buildings, other than along a street, is a strip (split between them).
_STRIP_MIN_SHARED: Final = 0.5


@dataclass(frozen=True)
class FaceTessellation:
    """The faces of a community's tessellation, their owners and shared edges.

    Parameters
    ----------
    community
        The community polygon, snapped to :data:`GRID_SIZE`.
    generators
        Building points used as Voronoi generators (moved inside the community
        and separated when coincident), shape ``(n, 2)``.
    snapped
        Which building points lay outside the community and were moved in.
    faces
        Face polygons; together they tile the community exactly.
    face_owner
        Index of the building owning each face.
    blocks
        The blocks: the community cut by the cutter lines.
    gen_block
        Index of the block holding each generator.
    face_block
        Index of the block holding each face.
    seg_faces
        ``(s, 2)`` faces on either side of each distinct boundary segment,
        ``-1`` where the segment lies on the community outline.
    seg_coords
        ``(s, 4)`` segment end points ``x0, y0, x1, y1``.
    under_footprint
        Which faces lie under their owner's footprint (all ``False`` without
        footprints); grid boundaries must not cut through them.
    """

    community: BaseGeometry
    generators: FloatArray
    snapped: BoolArray
    faces: GeomArray
    face_owner: IntArray
    blocks: GeomArray
    gen_block: IntArray
    face_block: IntArray
    seg_faces: IntArray
    seg_coords: FloatArray
    under_footprint: BoolArray | None = None

    @property
    def n(self) -> int:
        """Number of buildings (cells)."""
        return len(self.generators)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.blocks)

    @cached_property
    def face_area(self) -> FloatArray:
        """Area of each face, m²."""
        return np.asarray(shapely.area(self.faces), dtype=np.float64)

    @cached_property
    def seg_length(self) -> FloatArray:
        """Length of each segment, metres."""
        c = self.seg_coords
        return np.asarray(np.hypot(c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]), dtype=np.float64)

    @cached_property
    def seg_owners(self) -> IntArray:
        """``(s, 2)`` owning buildings on either side of each segment (``-1``: outline)."""
        own = np.full(self.seg_faces.shape, -1, dtype=np.int64)
        inside = self.seg_faces >= 0
        own[inside] = self.face_owner[self.seg_faces[inside]]
        return own

    @cached_property
    def cell_area(self) -> FloatArray:
        """Area of each building's cell, m²."""
        area = np.bincount(self.face_owner, weights=self.face_area, minlength=self.n)
        return np.asarray(area, dtype=np.float64)

    def dissolve(self, labels: npt.ArrayLike) -> tuple[npt.NDArray[Any], GeomArray]:
        """Union the faces of each label given per building (coverage union, exact).

        Parameters
        ----------
        labels
            One label per building, length ``n``.

        Returns
        -------
        tuple
            The sorted distinct labels and one polygon per label.
        """
        lab = np.asarray(labels)
        if len(lab) != self.n:
            msg = f"expected {self.n} labels, got {len(lab)}"
            raise ValueError(msg)
        uniq, inverse = np.unique(lab, return_inverse=True)
        return uniq, dissolve_groups(self.faces, inverse[self.face_owner], len(uniq))


def dissolve_groups(faces: GeomArray, group: IntArray, n_groups: int) -> GeomArray:
    """Union faces that form an exact coverage, one result per group index.

    Parameters
    ----------
    faces
        Polygons forming a valid coverage (shared edges with identical vertices).
    group
        Group index of each face in ``range(n_groups)``.
    n_groups
        Number of groups.

    Returns
    -------
    numpy.ndarray
        One (Multi)Polygon per group; empty polygons for groups without faces.
    """
    out = np.full(n_groups, shapely.Polygon(), dtype=object)
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)])
    single = np.flatnonzero(counts == 1)
    out[single] = faces[order[starts[single]]]
    for g in np.flatnonzero(counts > 1):
        members = faces[order[starts[g] : starts[g + 1]]]
        out[g] = shapely.coverage_union_all(members)
    return out


def polygonize_inside(lines: list[Any], community: BaseGeometry) -> tuple[GeomArray, BaseGeometry]:
    """Node lines (snap rounding); the faces inside the community and the noded lines."""
    noded = shapely.union_all(np.asarray(lines, dtype=object), grid_size=GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    shapely.prepare(community)
    keep = shapely.within(shapely.point_on_surface(faces), community)
    return np.asarray(faces[keep], dtype=object), noded


def _locate(points: GeomArray, polygons: GeomArray) -> IntArray:
    """Index of the polygon holding each point (the nearest one when none does)."""
    tree = shapely.STRtree(polygons)
    pt_idx, poly_idx = tree.query(points, predicate="intersects")
    where = np.full(len(points), -1, dtype=np.int64)
    # keep the lowest polygon index per point (deterministic on shared edges)
    order = np.lexsort((poly_idx, pt_idx))
    pt_idx, poly_idx = pt_idx[order], poly_idx[order]
    first = np.r_[True, pt_idx[1:] != pt_idx[:-1]] if len(pt_idx) else np.zeros(0, bool)
    where[pt_idx[first]] = poly_idx[first]
    missing = np.flatnonzero(where < 0)
    if len(missing):
        near = tree.query_nearest(points[missing], all_matches=False)
        where[missing[near[0]]] = near[1]
    return where


def _ridges(generators: FloatArray, gen_block: IntArray, blocks: GeomArray) -> GeomArray:
    """Voronoi ridges of each block's generators, clipped to the block."""
    counts = np.bincount(gen_block, minlength=len(blocks))
    multi = np.flatnonzero(counts >= 2)
    if len(multi) == 0:
        return np.empty(0, dtype=object)
    compact = np.full(len(blocks), -1, dtype=np.int64)
    compact[multi] = np.arange(len(multi))
    sel = np.flatnonzero(counts[gen_block] >= 2)
    order = sel[np.argsort(compact[gen_block[sel]], kind="stable")]
    mpts = shapely.multipoints(generators[order], indices=compact[gen_block[order]])
    edges = shapely.voronoi_polygons(mpts, extend_to=blocks[multi], only_edges=True)
    return np.asarray(shapely.intersection(edges, blocks[multi]), dtype=object)


def _strips(
    blocks: GeomArray,
    gen_block: IntArray,
    block_zone: IntArray,
    open_lines: GeomArray,
) -> tuple[IntArray, IntArray]:
    """Strips and the blocks beside them: ``(strip, block)`` pairs.

    A strip is a block holding no building (outside any zone) that shares more
    than :data:`_STRIP_MIN_SHARED` of boundary with a block holding buildings
    (outside any zone) other than along ``open_lines`` (streets, barriers): the
    land between a compound's outline and its streets.
    """
    counts = np.bincount(gen_block, minlength=len(blocks))
    empty = (counts == 0) & (block_zone < 0)
    full = (counts > 0) & (block_zone < 0)
    none = np.empty(0, dtype=np.int64)
    if not empty.any() or not full.any():
        return none, none
    seg_blocks, coords = _segments(blocks)
    a, b = seg_blocks[:, 0], seg_blocks[:, 1]
    inner = b >= 0
    pair = inner & ((empty[a] & full[np.maximum(b, 0)]) | (full[a] & empty[np.maximum(b, 0)]))
    if not pair.any():
        return none, none
    a, b, coords = a[pair], b[pair], coords[pair]
    strip, beside = np.where(empty[a], a, b), np.where(empty[a], b, a)
    length = np.hypot(coords[:, 2] - coords[:, 0], coords[:, 3] - coords[:, 1])
    if len(open_lines):
        mid = shapely.points((coords[:, :2] + coords[:, 2:]) / 2.0)
        on_line, _ = shapely.STRtree(open_lines).query(
            mid, predicate="dwithin", distance=_ON_STREET
        )
        length[on_line] = 0.0
    key, inv = np.unique(strip * len(blocks) + beside, return_inverse=True)
    total = np.bincount(inv, weights=length)
    key = key[total > _STRIP_MIN_SHARED]
    return key // len(blocks), key % len(blocks)


def _strip_ridges(
    generators: FloatArray,
    gen_block: IntArray,
    strips: tuple[IntArray, IntArray],
    blocks: GeomArray,
) -> GeomArray:
    """Voronoi ridges of each block's buildings, clipped to the strips beside the block.

    One diagram per block beside a strip (not per strip: a block beside many
    strips, such as a large block around empty courtyards, is drawn once),
    extended over its strips. Together with the strips' outlines the ridges cut
    each strip into faces, each nearest to one building of a block beside it.
    """
    strip, beside = strips
    counts = np.bincount(gen_block, minlength=len(blocks))
    keep = counts[beside] >= 2
    strip, beside = strip[keep], beside[keep]
    if not len(strip):
        return np.empty(0, dtype=object)
    uniq, group = np.unique(beside, return_inverse=True)
    compact = np.full(len(blocks), -1, dtype=np.int64)
    compact[uniq] = np.arange(len(uniq))
    sel = np.flatnonzero(compact[gen_block] >= 0)
    order = sel[np.argsort(compact[gen_block[sel]], kind="stable")]
    mpts = shapely.multipoints(generators[order], indices=compact[gen_block[order]])
    # each diagram extends over the bounding box of its block's strips
    bounds = shapely.bounds(blocks[strip])
    lo = np.full((len(uniq), 2), np.inf)
    hi = np.full((len(uniq), 2), -np.inf)
    np.minimum.at(lo, group, bounds[:, :2])
    np.maximum.at(hi, group, bounds[:, 2:])
    extent = shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    edges = shapely.voronoi_polygons(mpts, extend_to=extent, only_edges=True)
    parts, part_of = shapely.get_parts(edges, return_index=True)
    si, pi = shapely.STRtree(parts).query(blocks[strip], predicate="intersects")
    mine = part_of[pi] == group[si]
    cut = shapely.intersection(parts[pi[mine]], blocks[strip[si[mine]]])
    return np.asarray(cut[~shapely.is_empty(cut)], dtype=object)


def _strip_home(
    points: GeomArray,
    face_block: IntArray,
    strips: tuple[IntArray, IntArray],
    blocks: GeomArray,
) -> IntArray:
    """The block whose buildings own each face: its own, or a strip's nearest neighbour.

    A face of a strip goes to the block beside the strip nearest to the face
    (the lowest index on a tie): land in front of one compound stays with that
    compound, even where a building of the next compound stands nearer.
    """
    out = face_block.copy()
    order = np.argsort(strips[0], kind="stable")
    strip, beside = strips[0][order], strips[1][order]
    faces = np.flatnonzero(np.isin(face_block, strip))
    if not len(faces):
        return out
    lo = np.searchsorted(strip, face_block[faces], side="left")
    n = np.searchsorted(strip, face_block[faces], side="right") - lo
    f = np.repeat(faces, n)
    k = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
    dist = shapely.distance(points[f], blocks[beside[k]])
    o = np.lexsort((beside[k], dist, f))
    f, k = f[o], k[o]
    first = np.r_[True, f[1:] != f[:-1]]
    out[f[first]] = beside[k[first]]
    return out


def _segments(faces: GeomArray) -> tuple[IntArray, FloatArray]:
    """Distinct boundary segments of a coverage and the faces on either side."""
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    face = ring_face[ring_of[:-1][same]]
    ka = np.rint(a / GRID_SIZE).astype(np.int64)
    kb = np.rint(b / GRID_SIZE).astype(np.int64)
    nonzero = np.any(ka != kb, axis=1)
    ka, kb, a, b, face = ka[nonzero], kb[nonzero], a[nonzero], b[nonzero], face[nonzero]
    swap = (ka[:, 0] > kb[:, 0]) | ((ka[:, 0] == kb[:, 0]) & (ka[:, 1] > kb[:, 1]))
    lo = np.where(swap[:, None], kb, ka)
    hi = np.where(swap[:, None], ka, kb)
    _, first, inverse, counts = np.unique(
        np.column_stack([lo, hi]),
        axis=0,
        return_index=True,
        return_inverse=True,
        return_counts=True,
    )
    inverse = inverse.ravel()
    if (counts > 2).any():
        logger.debug("%d segments shared by more than two faces", int((counts > 2).sum()))
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    seg_faces = np.full((len(counts), 2), -1, dtype=np.int64)
    seg_faces[:, 0] = face[order[starts]]
    two = counts >= 2
    seg_faces[two, 1] = face[order[starts[two] + 1]]
    pa = np.where(swap[:, None], b, a)[first]
    pb = np.where(swap[:, None], a, b)[first]
    return seg_faces, np.column_stack([pa, pb])


def _generator_faces(faces: GeomArray, owner: IntArray, generators: FloatArray) -> IntArray:
    """Find the face of each generator's own cell that holds (or is nearest to) it."""
    n = len(generators)
    gen_face = np.full(n, -1, dtype=np.int64)
    pts = shapely.points(generators)
    gi, fi = shapely.STRtree(faces).query(pts, predicate="dwithin", distance=0.01)
    mine = owner[fi] == gi
    gi, fi = gi[mine], fi[mine]
    dist = shapely.distance(pts[gi], faces[fi])
    order = np.lexsort((fi, dist, gi))
    gi, fi = gi[order], fi[order]
    first = np.r_[True, gi[1:] != gi[:-1]] if len(gi) else np.zeros(0, bool)
    gen_face[gi[first]] = fi[first]
    missing = np.flatnonzero(gen_face < 0)
    for g in missing:  # pathological only: a generator whose face lies farther away
        own = np.flatnonzero(owner == g)
        if len(own):
            gen_face[g] = own[np.argmin(shapely.distance(pts[g], faces[own]))]
    return gen_face


def _face_graph(
    seg_faces: IntArray, length: FloatArray, n_faces: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Face pairs sharing boundary, with their total shared length."""
    inner = seg_faces[:, 1] >= 0
    a, b = seg_faces[inner, 0], seg_faces[inner, 1]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * n_faces + hi
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv, weights=length[inner])
    return uniq // n_faces, uniq % n_faces, np.asarray(total, dtype=np.float64)


def _settle_owners(
    faces: GeomArray,
    owner: IntArray,
    generators: FloatArray,
    *,
    pairs: tuple[IntArray, IntArray],
    shared: FloatArray,
    face_zone: IntArray,
    gen_zone: IntArray,
    blocks: tuple[IntArray, IntArray] | None = None,
    strips: tuple[IntArray, IntArray] | None = None,
) -> IntArray:
    """Give every face to one building so that each cell is connected to its generator.

    Land a cell cannot keep goes to a neighbouring cell of the same zone when
    there is one (so that a zone, e.g. a locked grid, keeps its outline), else
    to any neighbouring cell. A face of a strip (``strips``: ``(strip, beside)``
    block pairs; ``blocks``: the block of each face and of each generator) waits
    for a cell of a block beside its strip, so that it does not go across a
    street, unless no face can go anywhere else.
    """
    n_faces = len(faces)
    fa, fb = pairs
    owner = owner.copy()
    gen_face = _generator_faces(faces, owner, generators)
    if (gen_face < 0).any():
        bad = np.flatnonzero(gen_face < 0)
        msg = f"tessellation lost the cell of {len(bad)} building(s), e.g. index {bad[0]}"
        raise GridderError(msg)
    # 1. keep only the piece of each cell that is connected to its generator's face
    same = (owner[fa] == owner[fb]) & (owner[fa] >= 0)
    graph = coo_array((np.ones(int(same.sum())), (fa[same], fb[same])), shape=(n_faces,) * 2)
    _, comp = connected_components(graph, directed=False)
    keep_comp = np.zeros(comp.max() + 1, dtype=bool)
    keep_comp[comp[gen_face]] = True
    owner[~keep_comp[comp]] = -1
    # 2. orphans go, round by round, to the neighbour with the longest shared edge
    a2 = np.concatenate([fa, fb])
    b2 = np.concatenate([fb, fa])
    w2 = np.concatenate([shared, shared])
    # a strip's face may go only to a building of a block beside the strip: the pair
    # (face's block, owner's block) must be one of the strips' (strip, beside) pairs
    strip_rule = None
    if blocks is not None and strips is not None and len(strips[0]):
        face_block, gen_block = blocks
        n_blocks = int(max(face_block.max(), gen_block.max())) + 1
        strip_rule = (
            np.isin(face_block[a2], strips[0]),
            face_block[a2] * n_blocks,
            gen_block,
            strips[0] * n_blocks + strips[1],
        )
    while True:
        cand = (owner[a2] < 0) & (owner[b2] >= 0)
        if not cand.any():
            break
        same_zone = cand & (face_zone[a2] == gen_zone[np.maximum(owner[b2], 0)])
        if same_zone.any():
            cand = same_zone
        if strip_rule is not None:
            in_strip, face_key, block_of, allowed = strip_rule
            owner_block = block_of[np.maximum(owner[b2], 0)]
            home = cand & (~in_strip | np.isin(face_key + owner_block, allowed))
            if home.any():
                cand = home
        face, own, w = a2[cand], owner[b2[cand]], w2[cand]
        key = face * (len(generators) + 1) + own
        uk, inv = np.unique(key, return_inverse=True)
        tot = np.bincount(inv, weights=w)
        kf, ko = uk // (len(generators) + 1), uk % (len(generators) + 1)
        order = np.lexsort((ko, -tot, kf))
        kf, ko = kf[order], ko[order]
        first = np.r_[True, kf[1:] != kf[:-1]]
        owner[kf[first]] = ko[first]
    # 3. detached parts (e.g. a community part without buildings): nearest cell
    orphan = np.flatnonzero(owner < 0)
    if len(orphan):
        both = (owner[fa] < 0) & (owner[fb] < 0)
        g = coo_array((np.ones(int(both.sum())), (fa[both], fb[both])), shape=(n_faces,) * 2)
        _, ocomp = connected_components(g, directed=False)
        owned = np.flatnonzero(owner >= 0)
        (oi, ti), dist = shapely.STRtree(faces[owned]).query_nearest(
            faces[orphan], all_matches=False, return_distance=True
        )
        comp_of = ocomp[orphan[oi]]
        order = np.lexsort((ti, dist, comp_of))
        comp_sorted = comp_of[order]
        first = np.r_[True, comp_sorted[1:] != comp_sorted[:-1]]
        target = np.full(ocomp.max() + 1, -1, dtype=np.int64)
        target[comp_sorted[first]] = owner[owned[ti[order][first]]]
        owner[orphan] = target[ocomp[orphan]]
        logger.info("%d detached faces joined their nearest cell", len(orphan))
    return owner


def _nudge_off_outlines(
    generators: FloatArray, xy: FloatArray, zones: GeomArray, community: BaseGeometry
) -> None:
    """Move generators lying on a zone's outline to the side the building belongs to (in place).

    A building whose point (``xy``, as :func:`~gridder.graph.adjacency.building_points`
    gives it) lies on a locked grid's outline belongs to it
    (:func:`~gridder.graph.generators.points_in`, the rule by which callers lock
    buildings), but its generator on the line would fall in the block on either
    side: it moves into the zone, :data:`_NUDGE` metres or so past the line. A
    generator that near an outline, of a building outside every zone, moves as
    far out of them.
    """
    pts = onto_community(xy, community)  # as the planning step locks them
    lines = shapely.boundary(zones)
    gi, _ = shapely.STRtree(lines).query(
        shapely.points(generators), predicate="dwithin", distance=_NUDGE
    )
    todo = np.unique(gi)
    if not len(todo):
        return
    owner = np.full(len(todo), -1, dtype=np.int64)
    for z in range(len(zones) - 1, -1, -1):  # the first zone holding it
        owner[points_in(pts[todo], zones[z])] = z
    outside_all = shapely.difference(community, shapely.union_all(zones))
    for k, i in enumerate(todo.tolist()):
        side = zones[owner[k]] if owner[k] >= 0 else outside_all
        core = shapely.buffer(side, -2 * _NUDGE)
        if shapely.is_empty(core):
            continue
        near = shapely.shortest_line(shapely.points(generators[i]), core)
        generators[i] = shapely.get_coordinates(near)[-1]
    logger.debug("%d building generators moved off locked outlines", len(todo))


def _footprint_outlines(footprints: Any, n: int, community: BaseGeometry) -> GeomArray:
    """Outlines of the usable footprints, clipped to the community."""
    if footprints is None:
        return np.empty(0, dtype=object)
    fp = np.asarray(footprints, dtype=object)
    if len(fp) != n:
        msg = f"expected {n} footprints, got {len(fp)}"
        raise ValueError(msg)
    usable = ~shapely.is_missing(fp)
    usable[usable] = ~shapely.is_empty(fp[usable]) & np.isin(
        shapely.get_type_id(fp[usable]), [3, 6]
    )
    if not usable.any():
        return np.empty(0, dtype=object)
    cut = shapely.intersection(shapely.boundary(shapely.make_valid(fp[usable])), community)
    return np.asarray(cut[~shapely.is_empty(cut)], dtype=object)


def _give_footprints(
    faces: GeomArray,
    owner: IntArray,
    footprints: GeomArray,
    gen_pts: GeomArray,
    *,
    face_zone: IntArray,
    gen_zone: IntArray,
) -> BoolArray:
    """Give the faces under each footprint to its building (in place).

    A face holding another building's point stays with that building, a face
    under several (overlapping) footprints goes to the lowest index, and a face
    on the other side of a zone's outline (a locked grid's) from the building
    stays where it is: the zone's outline is kept, even through a footprint.
    Returns which faces went to their footprint's building.
    """
    usable = np.flatnonzero(
        ~shapely.is_missing(footprints) & np.isin(shapely.get_type_id(footprints), [3, 6])
    )
    fp = shapely.make_valid(footprints[usable])
    fi, k = shapely.STRtree(fp).query(shapely.point_on_surface(faces), predicate="within")
    building = usable[k]
    gi, gf = shapely.STRtree(faces).query(gen_pts, predicate="intersects")
    holder = np.full(len(faces), -1, dtype=np.int64)
    order = np.lexsort((gi, gf))
    gf_sorted, gi_sorted = gf[order], gi[order]
    lowest = np.r_[True, gf_sorted[1:] != gf_sorted[:-1]] if len(gf) else np.zeros(0, bool)
    holder[gf_sorted[lowest]] = gi_sorted[lowest]  # lowest generator index per face
    free = ((holder[fi] < 0) | (holder[fi] == building)) & (face_zone[fi] == gen_zone[building])
    fi, building = fi[free], building[free]
    order = np.lexsort((building, fi))
    fi, building = fi[order], building[order]
    first = np.r_[True, fi[1:] != fi[:-1]] if len(fi) else np.zeros(0, bool)
    owner[fi[first]] = building[first]
    given = np.zeros(len(faces), dtype=bool)
    given[fi[first]] = True
    return given


def tessellate(
    community: BaseGeometry,
    points: npt.ArrayLike,
    *,
    cutters: GeomArray | None = None,
    zones: GeomArray | None = None,
    footprints: GeomArray | None = None,
    open_lines: GeomArray | None = None,
) -> FaceTessellation:
    """Tessellate a community around building points, cut into blocks by lines.

    Parameters
    ----------
    community
        The community polygon (metric CRS); cleaned with :func:`clean_community`.
    points
        Building points, shape ``(n, 2)``, metres.
    cutters
        Lines that cut the community into blocks: streets, barriers, compound
        outlines. Cells never cross them (parts of lines outside the community
        and dangling ends are ignored).
    zones
        Polygons whose outlines cells must follow exactly, such as locked grids:
        their outlines cut blocks, and land inside a zone goes only to cells of
        buildings in the same zone (when the zone holds any).
    footprints
        Building footprints aligned with ``points`` (``None`` where unknown):
        the land under a footprint goes to its own building, so that grid
        boundaries run around buildings, never through them.
    open_lines
        The cutters that are streets or barriers. A block without buildings
        that borders blocks with buildings other than along these lines is a
        *strip* (the land between a compound's outline and its streets): each
        part of it goes to the nearest building of the block beside it nearest
        to that part.

    Returns
    -------
    FaceTessellation
        Faces tiling the community, each owned by one building.
    """
    community = clean_community(community)
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        msg = "cannot tessellate a community without buildings"
        raise GridderError(msg)
    generators, snapped = place_generators(xy, community)
    zone_polys = np.empty(0, dtype=object) if zones is None else np.asarray(zones, dtype=object)
    if len(zone_polys):
        _nudge_off_outlines(generators, xy, zone_polys, community)
    lines: list[Any] = [shapely.boundary(community)]
    if cutters is not None and len(cutters):
        cut = shapely.intersection(np.asarray(cutters, dtype=object), community)
        lines.extend(cut[~shapely.is_empty(cut)])
    if len(zone_polys):
        outline = shapely.intersection(shapely.boundary(zone_polys), community)
        lines.extend(outline[~shapely.is_empty(outline)])
    blocks, noded = polygonize_inside(lines, community)
    block_zone = np.full(len(blocks), -1, dtype=np.int64)
    if len(zone_polys):
        bi, zi = shapely.STRtree(zone_polys).query(
            shapely.point_on_surface(blocks), predicate="within"
        )
        block_zone[bi] = zi
    gen_pts = shapely.points(generators)
    gen_block = _locate(gen_pts, blocks)
    ridges = _ridges(generators, gen_block, blocks)
    open_ = np.empty(0, dtype=object) if open_lines is None else np.asarray(open_lines, object)
    strips = _strips(blocks, gen_block, block_zone, open_)
    strip_ridges = _strip_ridges(generators, gen_block, strips, blocks)
    # ridges end on the (snapped) block outlines: node them with those, not the raw lines
    outlines = _footprint_outlines(footprints, len(xy), community)
    faces, _ = polygonize_inside(
        [noded, *ridges[~shapely.is_empty(ridges)], *strip_ridges, *outlines], community
    )
    face_block = _locate(shapely.point_on_surface(faces), blocks)
    face_zone, gen_zone = block_zone[face_block], block_zone[gen_block]
    # the owner of a face is the nearest generator of its block or, in a strip, of the
    # block beside the strip nearest to the face
    rep_pts = shapely.point_on_surface(faces)
    home = _strip_home(rep_pts, face_block, strips, blocks)
    tree = cKDTree(np.column_stack([generators, gen_block * _BLOCK_SPACING]))
    rep = shapely.get_coordinates(rep_pts)
    _, nearest = tree.query(np.column_stack([rep, home * _BLOCK_SPACING]))
    owner = np.where(gen_block[nearest] == home, nearest, -1).astype(np.int64)
    under_footprint = np.zeros(len(faces), dtype=bool)
    if len(outlines):
        under_footprint = _give_footprints(
            faces,
            owner,
            np.asarray(footprints, dtype=object),
            gen_pts,
            face_zone=face_zone,
            gen_zone=gen_zone,
        )
    given_owner = owner.copy()
    seg_faces, seg_coords = _segments(faces)
    length = np.hypot(seg_coords[:, 2] - seg_coords[:, 0], seg_coords[:, 3] - seg_coords[:, 1])
    fa, fb, shared = _face_graph(seg_faces, length, len(faces))
    owner = _settle_owners(
        faces,
        owner,
        generators,
        pairs=(fa, fb),
        shared=shared,
        face_zone=face_zone,
        gen_zone=gen_zone,
        blocks=(face_block, gen_block),
        strips=strips,
    )
    logger.debug(
        "tessellated %d buildings: %d blocks, %d faces, %d segments",
        len(xy),
        len(blocks),
        len(faces),
        len(seg_faces),
    )
    return FaceTessellation(
        community=community,
        generators=generators,
        snapped=snapped,
        faces=faces,
        face_owner=owner,
        blocks=blocks,
        gen_block=gen_block,
        face_block=face_block,
        seg_faces=seg_faces,
        seg_coords=seg_coords,
        under_footprint=under_footprint & (owner == given_owner),
    )
