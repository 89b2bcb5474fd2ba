"""Grids as RFC 7946 GeoJSON: exterior rings counterclockwise, holes clockwise.

:class:`gridder.plan.Plan` serialises its grids as GEOS gives them, and the
grid polygons of a plan come out with clockwise exterior rings; RFC 7946
§3.1.6 says exterior rings MUST be counterclockwise (a ``application/geo+json``
client such as d3-geo reads a clockwise ring as "the whole world but this
polygon"). :func:`grids_json` and :func:`grid_json` answer the plan's features
with oriented rings; they are built once per plan object (a plan never changes
once opened: an edited file is a new object) and kept while the plan is.

The orientation belongs in ``Plan`` itself (``shapely.orient_polygons`` in
``Plan._build_json``); until it moves there, the API orients here.
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

import anyio.to_thread
import shapely

from gridder.plan import Plan

__all__ = ["GridFeatures", "grid_json", "grids_json", "oriented_features"]


class GridFeatures:
    """A plan's features with oriented rings, by row, and the rows of each community."""

    def __init__(self, plan: Plan) -> None:
        collection: dict[str, Any] = json.loads(plan.grids_json())
        features = collection["features"]
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
        oriented = shapely.to_geojson(shapely.orient_polygons(geoms, exterior_cw=False))
        self.rows: dict[str, int] = {}
        self.by_community: dict[str, list[int]] = {}
        self.features: list[bytes] = []
        for row, (feature, geometry) in enumerate(zip(features, oriented, strict=True)):
            props = feature["properties"]
            self.rows[str(feature["id"])] = row
            self.by_community.setdefault(str(props["community_id"]), []).append(row)
            self.features.append(
                b'{"type":"Feature","id":'
                + _dumps(feature.get("id"))
                + b',"geometry":'
                + str(geometry).encode()
                + b',"properties":'
                + _dumps(props)
                + b"}"
            )


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


_cache: weakref.WeakKeyDictionary[Plan, GridFeatures] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _build(plan: Plan) -> GridFeatures:
    with _lock:  # one build per plan, even when many requests ask at once
        features = _cache.get(plan)
        if features is None:
            features = GridFeatures(plan)
            _cache[plan] = features
        return features


async def oriented_features(plan: Plan) -> GridFeatures:
    """The plan's oriented features: at once when built, else built in a worker thread."""
    features = _cache.get(plan)
    if features is None:
        features = await anyio.to_thread.run_sync(_build, plan)
    return features


async def grids_json(plan: Plan, community_id: str | None = None) -> bytes:
    """The grids (of one community) as a FeatureCollection, RFC 7946 ring orientation.

    Raises
    ------
    NotFoundError
        When ``community_id`` has no grids in the plan (the plan's own message).
    """
    features = await oriented_features(plan)
    if community_id is None:
        chosen = features.features
    else:
        rows = features.by_community.get(community_id)
        if rows is None:
            plan.grids_json(community_id)  # raises the plan's NotFoundError
            rows = []
        chosen = [features.features[i] for i in rows]
    return b'{"type":"FeatureCollection","features":[' + b",".join(chosen) + b"]}"


async def grid_json(plan: Plan, grid_id: str) -> bytes:
    """One grid as a Feature, RFC 7946 ring orientation.

    Raises
    ------
    NotFoundError
        When the plan has no such grid (the plan's own message).
    """
    features = await oriented_features(plan)
    row = features.rows.get(grid_id)
    if row is None:
        return plan.grid_json(grid_id)  # raises the plan's NotFoundError
    return features.features[row]
