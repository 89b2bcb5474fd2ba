"""The contract's layers, columns and Chinese header aliases (CONTRACT §1, §3, §4).

One place for the names that readers, validators, writers, the API and the
tests share, so that no module spells a column on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ALIASES",
    "COVERAGE_COLUMNS",
    "LAYERS",
    "NUMERIC_BUILDING_COLUMNS",
    "WGS84",
    "LayerName",
    "LayerSpec",
]

WGS84: Final = "EPSG:4326"

LayerName = Literal[
    "communities", "buildings", "streets", "facilities", "compounds", "barriers", "candidates"
]


@dataclass(frozen=True)
class LayerSpec:
    """What the contract requires of one input layer.

    Parameters
    ----------
    name
        The layer's name in the contract.
    id_column
        The column holding a unique id, or ``None`` when the layer has none; an id
        column not in ``required`` is checked only where a file has it.
    required
        Columns that must be present.
    optional
        Columns that are read when present.
    geometry
        Accepted geometry types (shapely ``geom_type`` names).
    """

    name: LayerName
    id_column: str | None
    required: tuple[str, ...]
    optional: tuple[str, ...]
    geometry: tuple[str, ...]


NUMERIC_BUILDING_COLUMNS: Final = (
    "households",
    "population",
    "floating_population",
    "elderly",
    "special_care",
    "units",
    "levels",
)

LAYERS: Final[dict[str, LayerSpec]] = {
    "communities": LayerSpec(
        "communities",
        "community_id",
        ("community_id",),
        ("name", "street_id", "district_id"),
        ("Polygon", "MultiPolygon"),
    ),
    "buildings": LayerSpec(
        "buildings",
        "building_id",
        ("building_id",),
        (*NUMERIC_BUILDING_COLUMNS, "compound_id", "community_id", "name"),
        ("Point", "Polygon", "MultiPolygon"),
    ),
    "streets": LayerSpec(
        "streets",
        None,
        (),
        ("highway", "barrier", "name"),
        ("LineString", "MultiLineString"),
    ),
    "facilities": LayerSpec(
        "facilities",
        "facility_id",
        ("facility_id", "type"),
        ("name", "capacity"),
        ("Point", "Polygon", "MultiPolygon"),
    ),
    "compounds": LayerSpec(
        "compounds",
        "compound_id",
        ("compound_id",),
        ("name",),
        ("Polygon", "MultiPolygon"),
    ),
    # extra barriers (--barriers FILE): rivers, railways, walls, as lines or as areas
    "barriers": LayerSpec(
        "barriers",
        None,
        (),
        ("name",),
        ("LineString", "MultiLineString", "Polygon", "MultiPolygon"),
    ),
    # candidate sites (gridder site --candidates): points, or areas whose centroid is used
    "candidates": LayerSpec(
        "candidates",
        "candidate_id",
        (),
        ("candidate_id", "name"),
        ("Point", "Polygon", "MultiPolygon"),
    ),
}

#: Chinese (and a few common English) column headers → canonical names.
ALIASES: Final[dict[str, str]] = {
    "楼栋编号": "building_id",
    "建筑编号": "building_id",
    "楼栋id": "building_id",
    "户数": "households",
    "住户数": "households",
    "总户数": "households",
    "人口": "population",
    "常住人口": "population",
    "流动人口": "floating_population",
    "老年人": "elderly",
    "老年人口": "elderly",
    "特殊人群": "special_care",
    "重点关爱": "special_care",
    "单元数": "units",
    "层数": "levels",
    "building:levels": "levels",  # the OSM tag, as GeoPackage/GeoJSON exports of OSM name it
    "楼层数": "levels",
    "小区": "compound_id",
    "小区编号": "compound_id",
    "社区编号": "community_id",
    "社区代码": "community_id",
    "社区名称": "name",
    "名称": "name",
    "街道编号": "street_id",
    "街道": "street_id",
    "区县编号": "district_id",
    "设施编号": "facility_id",
    "类型": "type",
    "设施类型": "type",
    "容量": "capacity",
    "经度": "lon",
    "纬度": "lat",
    "longitude": "lon",
    "latitude": "lat",
    "lng": "lon",
    "x": "lon",
    "y": "lat",
}

# Shapefile field names are cut at 10 characters: accept the cut contract names too.
for _layer in LAYERS.values():
    for _name in (*_layer.required, *_layer.optional):
        if len(_name) > 10:
            ALIASES.setdefault(_name[:10], _name)

#: Columns every coverage file layer carries at least (CONTRACT §4).
COVERAGE_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "access": (
        "building_id",
        "grid_id",
        "facility_type",
        "category",
        "nearest_facility_id",
        "dist_m",
        "walk_min",
    ),
    "summary": (
        "scope",
        "scope_id",
        "facility_type",
        "minutes",
        "households",
        "households_covered",
        "share",
    ),
    "isochrones": ("facility_id", "facility_type", "minutes"),
    "gaps": ("facility_type", "minutes", "households"),
    "compliance": (
        "scope",
        "scope_id",
        "level",
        "category",
        "distance_m",
        "households",
        "households_covered",
        "share",
        "missing",
    ),
}

#: OSM highway classes whose streets are hard barriers for grids (CONTRACT/issue 3).
MAJOR_HIGHWAYS: Final = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
