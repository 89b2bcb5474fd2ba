"""Reading OpenStreetMap ``.osm.pbf`` extracts with pyrosm (CONTRACT §1).

An extract provides three layers:

- ``buildings``: every ``building=*`` area, ``building_id`` = ``way/123`` or
  ``relation/45``, with the tags the household rule needs (``building``,
  ``levels`` from ``building:levels``, ``height`` in metres, ``amenity``,
  ``shop``, ``office``) and ``name``.
- ``streets``: every ``highway=*`` way split at the OSM nodes it shares with
  other ways (pyrosm ``get_network("all", nodes=True)``), with ``u``/``v`` (the
  OSM node ids at its ends, so that a bridge crossing a street without a shared
  node is not joined), ``highway``, ``name``, ``foot``, ``access``, ``bridge``,
  ``tunnel``, ``layer``, ``service``, ``sidewalk``.
- ``facilities``: POIs (nodes and areas) tagged ``amenity``, ``healthcare``,
  ``social_facility``, ``shop`` or ``leisure``; ``type`` is the first of those
  tags' values (verbatim), ``facility_id`` = ``node/1``/``way/2``. Street
  furniture (benches, waste baskets, vending machines, parking…) is left out,
  see :data:`NON_SERVICE_AMENITIES`.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridder.errors import InputError
from gridder.schema import WGS84

__all__ = ["NON_SERVICE_AMENITIES", "parse_metres", "read_osm_layer"]

log = logging.getLogger(__name__)

#: ``amenity`` values that are street furniture rather than services.
NON_SERVICE_AMENITIES: Final = frozenset(
    {
        "bench",
        "waste_basket",
        "waste_disposal",
        "vending_machine",
        "bicycle_parking",
        "motorcycle_parking",
        "parking",
        "parking_space",
        "parking_entrance",
        "post_box",
        "clock",
        "fountain",
        "life_ring",
        "telephone",
        "drinking_water",
        "grit_bin",
        "charging_station",
        "bicycle_rental",
        "taxi",
        "shelter",
        "hunting_stand",
        "recycling",
        "loading_dock",
        "smoking_area",
        "letter_box",
    }
)

_FACILITY_TAGS: Final = ("amenity", "healthcare", "social_facility", "shop", "leisure")
_STREET_COLUMNS: Final = (
    "u",
    "v",
    "highway",
    "name",
    "foot",
    "access",
    "bridge",
    "tunnel",
    "layer",
    "service",
    "sidewalk",
)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


def parse_metres(values: pd.Series) -> pd.Series:
    """Parse OSM length tags such as ``"12"``, ``"12.5 m"``, ``"12,5"`` into floats (or NaN)."""

    def one(text: object) -> float:
        if text is None or (isinstance(text, float) and np.isnan(text)):
            return float("nan")
        match = _NUMBER.search(str(text))
        return float(match.group(0).replace(",", ".")) if match else float("nan")

    return values.map(one).astype(float)


def _osm(path: Path):  # type: ignore[no-untyped-def]
    import pyrosm

    return pyrosm.OSM(str(path))


def _with_id(frame: pd.DataFrame) -> pd.Series:
    kind = frame["osm_type"].astype(str) if "osm_type" in frame else pd.Series("node", frame.index)
    return kind + "/" + frame["id"].astype("int64").astype(str)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def read_osm_layer(path: Path, kind: str) -> gpd.GeoDataFrame:
    """Read one contract layer (``buildings``, ``streets`` or ``facilities``) from an extract.

    Raises
    ------
    InputError
        For a layer an OSM extract cannot provide, or an extract with no such features.
    """
    source = str(path)
    if kind not in {"buildings", "streets", "facilities"}:
        raise InputError.single(
            source,
            "",
            f"an OpenStreetMap extract provides buildings, streets and facilities, not {kind}; "
            "give the communities as a polygon file",
        )
    osm = _osm(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "buildings":
            frame = _buildings(osm)
        elif kind == "streets":
            frame = _streets(osm)
        else:
            frame = _facilities(osm)
    if frame is None or len(frame) == 0:
        raise InputError.single(source, "", f"the extract holds no {kind}")
    frame = frame.reset_index(drop=True)
    frame["_row"] = np.arange(1, len(frame) + 1)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=WGS84)


def _buildings(osm) -> gpd.GeoDataFrame | None:  # type: ignore[no-untyped-def]
    raw = osm.get_buildings()
    if raw is None or len(raw) == 0:
        return None
    geoms = _close_rings(raw.geometry.to_numpy(), _with_id(raw).tolist())
    out = gpd.GeoDataFrame(
        {
            "building_id": _with_id(raw),
            "building": _column(raw, "building"),
            "levels": parse_metres(_column(raw, "building:levels")),
            "height": parse_metres(_column(raw, "height")),
            "amenity": _column(raw, "amenity"),
            "shop": _column(raw, "shop"),
            "office": _column(raw, "office"),
            "name": _column(raw, "name"),
        },
        geometry=geoms,
        crs=WGS84,
    )
    return out


def _close_rings(geoms: np.ndarray, ids: list[str]) -> np.ndarray:
    """Turn building ways that OSM left as lines (unclosed rings) into polygons.

    Lines with fewer than three distinct points stay lines, so that validation
    reports them by id.
    """
    out = geoms.copy()
    lines = np.flatnonzero(shapely.get_type_id(geoms) == 1)
    fixed = []
    for i in lines:
        coords = shapely.get_coordinates(geoms[i])
        if len(np.unique(coords, axis=0)) >= 3:
            out[i] = shapely.polygons(np.vstack([coords, coords[:1]]))
            fixed.append(ids[i])
    if fixed:
        log.warning(
            "closed %d building ways that were not closed rings: %s", len(fixed), ", ".join(fixed)
        )
    return out


def _streets(osm) -> gpd.GeoDataFrame | None:  # type: ignore[no-untyped-def]
    result = osm.get_network(network_type="all", nodes=True, extra_attributes=["layer"])
    if result is None:
        return None
    _, edges = result
    if edges is None or len(edges) == 0:
        return None
    data = {name: _column(edges, name) for name in _STREET_COLUMNS}
    out = gpd.GeoDataFrame(data, geometry=edges.geometry.to_numpy(), crs=WGS84)
    out = out.explode(index_parts=False, ignore_index=True)
    return out


def _facilities(osm) -> gpd.GeoDataFrame | None:  # type: ignore[no-untyped-def]
    raw = osm.get_pois(custom_filter=dict.fromkeys(_FACILITY_TAGS, True))
    if raw is None or len(raw) == 0:
        return None
    kind = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    for tag in _FACILITY_TAGS:
        values = _column(raw, tag)
        kind = kind.where(kind.notna(), values.where(values.notna() & (values != "yes")))
    amenity = _column(raw, "amenity")
    keep = kind.notna() & ~amenity.isin(NON_SERVICE_AMENITIES)
    raw = raw.loc[keep]
    out = gpd.GeoDataFrame(
        {
            "facility_id": _with_id(raw),
            "type": kind.loc[keep].astype(str),
            "name": _column(raw, "name"),
            **{tag: _column(raw, tag) for tag in _FACILITY_TAGS},
        },
        geometry=raw.geometry.to_numpy(),
        crs=WGS84,
    )
    return out
