"""Validating input layers against the contract (CONTRACT §1).

Each validator collects *every* problem of a layer — missing required column,
empty or duplicate id, empty, missing, wrong-type or invalid geometry,
non-numeric or negative counts, coordinates out of range — and raises one
:class:`~gridder.errors.InputError` naming the file, the feature and the
problem. With ``fix_geometry=True`` invalid polygons are repaired with
``shapely.make_valid`` instead (and the repair is logged).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridder.errors import InputError, Problem
from gridder.io.osm import parse_metres
from gridder.schema import LAYERS, NUMERIC_BUILDING_COLUMNS, LayerSpec

__all__ = ["MAX_COUNT", "count_text", "polygonal_part", "validate_layer"]

log = logging.getLogger(__name__)

#: Optional layers that may hold no feature (a city without rivers, a district without
#: mapped compounds); the required layers and facilities may not.
OPTIONAL_EMPTY = frozenset({"streets", "barriers", "compounds"})

_MAX_LISTED = 20
#: Largest count (households, population, capacity …) one building or facility may hold.
MAX_COUNT = 1_000_000


def _feature_names(frame: pd.DataFrame, spec: LayerSpec) -> list[str]:
    rows = frame["_row"].tolist() if "_row" in frame.columns else range(1, len(frame) + 1)
    if spec.id_column and spec.id_column in frame.columns:
        ids = frame[spec.id_column].tolist()
        return [
            f"{spec.id_column}={i} (row {r})" if _present(i) else f"row {r}"
            for i, r in zip(ids, rows, strict=True)
        ]
    return [f"row {r}" for r in rows]


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and np.isnan(value):
        return False
    return str(value).strip() != ""


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as clean strings (``12.0`` read from a spreadsheet becomes ``"12"``)."""

    def one(v: object) -> object:
        if not _present(v):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return values.map(one).astype(object)


def validate_layer(
    frame: gpd.GeoDataFrame,
    kind: str,
    *,
    source: str,
    fix_geometry: bool = False,
) -> gpd.GeoDataFrame:
    """Check one layer and return it in canonical form.

    Parameters
    ----------
    frame
        The layer as read by :func:`gridder.io.read.read_layer` (WGS84, canonical names).
    kind
        ``communities``, ``buildings``, ``streets``, ``facilities`` or ``compounds``.
    source
        The file name, for messages.
    fix_geometry
        Repair invalid geometries instead of refusing them.

    Returns
    -------
    geopandas.GeoDataFrame
        Ids as strings, numeric columns as floats (NaN where absent), geometries valid.

    Raises
    ------
    InputError
        Listing every problem found.
    """
    spec = LAYERS[kind]
    problems: list[Problem] = []
    frame = frame.copy()
    missing = [c for c in spec.required if c not in frame.columns]
    for col in missing:
        problems.append(
            Problem(
                source,
                "",
                f"missing required column {col!r} (columns found: "
                f"{', '.join(str(c) for c in frame.columns if c not in ('geometry', '_row'))}; "
                f"map one with --columns {col}=<header>)",
            )
        )
    if len(frame) == 0 and kind in OPTIONAL_EMPTY:
        # an optional layer given empty means "none of these here", not a mistake to refuse
        # (an empty GeoJSON has no columns at all: nothing is missing from no feature)
        log.warning("%s holds no %s: none are used", source, kind)
        for col in missing:
            frame[col] = pd.Series(dtype=object)
        return frame
    if len(frame) == 0:
        problems.append(Problem(source, "", f"the file holds no {kind}"))
    if missing or len(frame) == 0:
        if problems:
            raise InputError(problems)
        return frame
    # an optional id (candidate sites' candidate_id) is checked as a required one where given
    has_id = spec.id_column is not None and spec.id_column in frame.columns
    if has_id:
        frame[spec.id_column] = _id_text(frame[spec.id_column])
    for col in ("community_id", "compound_id", "street_id", "district_id"):
        if col in frame.columns and col != spec.id_column:
            frame[col] = _id_text(frame[col])
    names = _feature_names(frame, spec)
    if has_id:
        problems += _check_ids(frame, spec, names, source)
    frame, geometry_problems = _check_geometry(frame, spec, names, source, fix_geometry)
    problems += geometry_problems
    if kind == "buildings":
        problems += _check_numbers(frame, NUMERIC_BUILDING_COLUMNS, names, source)
    if kind == "facilities":
        frame["type"] = frame["type"].map(lambda v: str(v).strip() if _present(v) else None)
        for i in np.flatnonzero(frame["type"].isna().to_numpy()):
            problems.append(Problem(source, names[i], "facility has no type"))
        if "capacity" in frame.columns:
            problems += _check_numbers(frame, ("capacity",), names, source)
    if problems:
        raise InputError(problems)
    return frame


def _check_ids(
    frame: pd.DataFrame, spec: LayerSpec, names: list[str], source: str
) -> list[Problem]:
    assert spec.id_column is not None
    ids = frame[spec.id_column]
    problems = [
        Problem(source, names[i], f"empty {spec.id_column}")
        for i in np.flatnonzero(ids.isna().to_numpy())
    ]
    dup = ids[ids.notna() & ids.duplicated(keep=False)]
    if len(dup):
        rows = frame.loc[dup.index, "_row"] if "_row" in frame.columns else dup.index
        grouped: dict[str, list[str]] = {}
        for value, row in zip(dup.tolist(), rows.tolist(), strict=True):
            grouped.setdefault(str(value), []).append(str(row))
        for value, dup_rows in list(grouped.items())[:_MAX_LISTED]:
            problems.append(
                Problem(
                    source,
                    f"{spec.id_column}={value}",
                    f"duplicate id (rows {', '.join(dup_rows)})",
                )
            )
        if len(grouped) > _MAX_LISTED:
            problems.append(Problem(source, "", f"{len(grouped) - _MAX_LISTED} more duplicate ids"))
    return problems


def _check_geometry(
    frame: gpd.GeoDataFrame,
    spec: LayerSpec,
    names: list[str],
    source: str,
    fix_geometry: bool,
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    problems: list[Problem] = []
    geoms = frame.geometry.to_numpy()
    if "Point" in spec.geometry:
        # a MultiPoint of one point (as some GIS exports write points) is that point
        single = (shapely.get_type_id(geoms) == 4) & (shapely.get_num_geometries(geoms) == 1)
        if single.any():
            geoms = geoms.copy()
            geoms[single] = shapely.get_geometry(geoms[single], 0)
            frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    if spec.name == "streets" and (missing | empty).any():
        # a street line without geometry (OSM exports hold some) carries nothing to
        # walk or cut along: it is left out, and said so
        gone = np.flatnonzero(missing | empty)
        log.warning(
            "%s: %d street(s) without geometry left out (%s)",
            source,
            len(gone),
            ", ".join(names[i] for i in gone[:_MAX_LISTED]),
        )
        keep = ~(missing | empty)
        frame = frame[keep]
        names = [n for n, k in zip(names, keep.tolist(), strict=True) if k]
        geoms = frame.geometry.to_numpy()
        missing = np.zeros(len(geoms), dtype=bool)
        empty = missing.copy()
    for i in np.flatnonzero(missing | empty):
        problems.append(Problem(source, names[i], "empty or missing geometry"))
    ok = ~(missing | empty)
    types = np.asarray(shapely.get_type_id(geoms))
    type_names = np.array(
        [
            "Point",
            "LineString",
            "LinearRing",
            "Polygon",
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ]
    )
    # a facility is a place: a Point, or an area whose centroid is used; a line or several
    # points is no one place (except as an OpenStreetMap extract maps some POIs: a route
    # relation, whose centroid is used as the extract's reader gives it)
    osm_extract = spec.name == "facilities" and source.lower().endswith(".osm.pbf")
    for i in np.flatnonzero(ok):
        if types[i] < 0 or type_names[types[i]] not in spec.geometry:
            if osm_extract:
                continue
            expected = " or ".join(spec.geometry)
            if spec.name == "facilities":
                expected += " (a facility is one place: a point, or an area whose centroid is used)"
            problems.append(
                Problem(
                    source, names[i], f"geometry is {type_names[types[i]]}, expected {expected}"
                )
            )
    # coordinates out of range (a projected file labelled as WGS84, swapped axes ...)
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        out_of_range = ok & (
            (bounds[:, 0] < -180)
            | (bounds[:, 2] > 180)
            | (bounds[:, 1] < -90)
            | (bounds[:, 3] > 90)
        )
        non_finite = ok & ~np.isfinite(bounds).all(axis=1)
    for i in np.flatnonzero(out_of_range | non_finite):
        problems.append(
            Problem(source, names[i], "coordinates out of range for longitude/latitude")
        )
    invalid = ok & ~shapely.is_valid(geoms)
    if invalid.any():
        if fix_geometry:
            fixed = geoms.copy()
            fixed[invalid] = shapely.make_valid(geoms[invalid])
            if spec.name in {"communities", "compounds", "buildings"}:
                # a building whose footprint collapses keeps its location as a point
                fixed[invalid] = [
                    polygonal_part(g, point_ok=spec.name == "buildings") for g in fixed[invalid]
                ]
            log.warning("%s: repaired %d invalid geometries", source, int(invalid.sum()))
            frame = frame.set_geometry(gpd.GeoSeries(fixed, index=frame.index, crs=frame.crs))
        else:
            reasons = shapely.is_valid_reason(geoms[invalid])
            for i, reason in zip(np.flatnonzero(invalid), reasons, strict=True):
                problems.append(
                    Problem(
                        source,
                        names[i],
                        f"invalid geometry ({reason}); fix it or run with --fix-geometry",
                    )
                )
    return frame, problems


def polygonal_part(geom: shapely.Geometry, *, point_ok: bool = False) -> shapely.Geometry:
    """Keep the polygonal part of a repaired geometry (or a point where none is left)."""
    if geom.geom_type in {"Polygon", "MultiPolygon"}:
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in {"Polygon", "MultiPolygon"}]
    if parts:
        return shapely.union_all(parts)
    return shapely.point_on_surface(geom) if point_ok else geom


def count_text(value: float) -> str:
    """A count for a message: ``12.5``, ``1,000,001`` (never ``1e+06``), ``inf``."""
    return f"{value:,.0f}" if abs(value) >= 1e6 else f"{value:g}"


def _check_numbers(
    frame: pd.DataFrame, columns: tuple[str, ...], names: list[str], source: str
) -> list[Problem]:
    problems: list[Problem] = []
    for col in columns:
        if col not in frame.columns:
            continue
        raw = frame[col]
        text = raw.astype(object).map(lambda v: str(v).strip() if _present(v) else None)
        values = pd.to_numeric(text, errors="coerce")
        bad = text.notna() & values.isna()
        if col == "levels" and bad.any():
            # OSM's building:levels as exports hold it ("3;4", "5 floors"): the first
            # number, as the .osm.pbf reader takes it
            values = values.where(~bad, parse_metres(text.where(bad)))
            read = bad & values.notna()
            if read.any():
                first = int(np.flatnonzero(read.to_numpy())[0])
                log.warning(
                    "%s: %d building(s) give levels as text (%s: %r); the first number is used",
                    source,
                    int(read.sum()),
                    names[first],
                    text.iloc[first],
                )
            bad = text.notna() & values.isna()
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(Problem(source, names[i], f"{col} is not a number: {text.iloc[i]!r}"))
        negative = values < 0
        for i in np.flatnonzero(negative.fillna(False).to_numpy()):
            problems.append(Problem(source, names[i], f"negative {col}: {values.iloc[i]:g}"))
        huge = values.abs() > MAX_COUNT  # inf too: no building holds that many
        for i in np.flatnonzero(huge.fillna(False).to_numpy()):
            problems.append(
                Problem(
                    source,
                    names[i],
                    f"{col} = {count_text(values.iloc[i])}: above {MAX_COUNT:,} for one building",
                )
            )
        fractional = np.flatnonzero((values.notna() & (values != values.round())).to_numpy())
        if col == "households" and len(fractional):
            first = int(fractional[0])
            log.warning(
                "%s: %d building(s) hold a fractional household count (%s: %g); rounded",
                source,
                len(fractional),
                names[first],
                values.iloc[first],
            )
        frame[col] = values.astype(float)
    return problems
