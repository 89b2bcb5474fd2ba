"""How gridder's maps look: labels (中文/English), colours, icons, basemaps and the legend.

The grids are coloured on a diverging scale centred on the plan's target: pale
inside the band, deep blue far below it, deep red far above it. Buildings take
one of eight colours per grid, chosen so that neighbouring grids differ.
Facilities get a Font Awesome glyph chosen from their type (English OSM-style
or Chinese names) and one colour per type, shared with their isochrones.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import networkx as nx
import numpy as np
import numpy.typing as npt
import shapely

from gridder.errors import InputError
from gridder.mapdata import Band

__all__ = [
    "LABELS",
    "OSM_ATTRIBUTION",
    "Tiles",
    "deviation_colors",
    "facility_icon",
    "grid_palette_index",
    "legend_html",
    "parse_tiles",
    "shown_types",
    "type_colors",
]

OSM_ATTRIBUTION: Final = "© OpenStreetMap contributors, ODbL"

LABELS: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "overview": "网格化管理总览",
        "community": "社区",
        "grid": "网格",
        "grids": "网格数",
        "households": "户数",
        "workload": "工作量",
        "deviation": "偏差",
        "n_buildings": "楼栋数",
        "building": "楼栋",
        "area": "面积（公顷）",
        "in_band": "区间内网格",
        "coverage": "覆盖率",
        "name": "名称",
        "id": "编号",
        "layer_grids": "网格（按偏差着色）",
        "layer_communities": "社区边界",
        "layer_buildings": "楼栋",
        "layer_facilities": "设施：{type}",
        "layer_iso": "{m}分钟生活圈",
        "layer_gaps": "覆盖缺口 · {m}",
        "gaps": "覆盖缺口",
        "layer_sites": "建议站点",
        "layer_compare": "原网格边界（虚线）",
        "legend": "图例",
        "minutes": "{m}分钟",
        "dev_title": "网格{col}：目标 {t}，区间 {lo}–{hi}",
        "facility_type": "设施类型",
        "gap_households": "未覆盖户数",
        "gained": "新增覆盖户数",
        "back": "← 返回总览",
        "open_page": "打开社区地图 →",
        "summary": "各社区汇总",
        "total": "合计",
        "plan": "方案",
        "buildings_legend": "楼栋：颜色区分网格，大小表示户数",
        "iso_legend": "生活圈（颜色同设施类型）",
        "basemap_osm": "OpenStreetMap",
        "basemap_amap": "高德地图",
        "basemap_tianditu": "天地图",
        "basemap_url": "底图",
        "workers": "网格员",
        "role_grid": "网格员",
        "role_specialist": "专职网格员",
        "n_grid_workers": "网格员",
        "n_specialists": "专职网格员",
        "workers_stale": "网格员分配早于最近一次编辑，请重新运行 gridder workers",
    },
    "en": {
        "overview": "Grid plan overview",
        "community": "Community",
        "grid": "Grid",
        "grids": "Grids",
        "households": "Households",
        "workload": "Workload",
        "deviation": "Deviation",
        "n_buildings": "Buildings",
        "building": "Building",
        "area": "Area (ha)",
        "in_band": "Grids in band",
        "coverage": "Coverage",
        "name": "Name",
        "id": "ID",
        "layer_grids": "Grids (deviation from target)",
        "layer_communities": "Community boundaries",
        "layer_buildings": "Buildings",
        "layer_facilities": "Facilities: {type}",
        "layer_iso": "{m}-minute walk",
        "layer_gaps": "Coverage gaps · {m}",
        "gaps": "Coverage gaps",
        "layer_sites": "Proposed sites",
        "layer_compare": "Previous grid boundaries (dashed)",
        "legend": "Legend",
        "minutes": "{m} min",
        "dev_title": "Grid {col}: target {t}, band {lo}–{hi}",
        "facility_type": "Facility type",
        "gap_households": "Households not covered",
        "gained": "Households gained",
        "back": "← Overview",
        "open_page": "Open community map →",
        "summary": "Summary by community",
        "total": "Total",
        "plan": "Plan",
        "buildings_legend": "Buildings: colour per grid, size by households",
        "iso_legend": "Walking areas (colour of the facility type)",
        "basemap_osm": "OpenStreetMap",
        "basemap_amap": "Amap",
        "basemap_tianditu": "Tianditu",
        "basemap_url": "Basemap",
        "workers": "Workers",
        "role_grid": "grid worker",
        "role_specialist": "specialist",
        "n_grid_workers": "Grid workers",
        "n_specialists": "Specialists",
        "workers_stale": "the workers predate the last edit: re-run gridder workers",
    },
}

#: Diverging stops (x, colour): x = -1 at the band's lower bound, 0 at the target, 1 at the upper.
_DEVIATION_STOPS: Final = (
    (-2.0, (0x21, 0x66, 0xAC)),
    (-1.0, (0x92, 0xC5, 0xDE)),
    (0.0, (0xF7, 0xF7, 0xF7)),
    (1.0, (0xF4, 0xA5, 0x82)),
    (2.0, (0xB2, 0x18, 0x2B)),
)

#: Qualitative colours for buildings of neighbouring grids (ColorBrewer Dark2).
GRID_PALETTE: Final = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
)

#: Colours of facility types and their isochrones (Tableau 10).
TYPE_PALETTE: Final = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#d62728",
)

_ICONS: Final = (
    (("kindergarten", "幼儿园", "托育", "托儿", "nursery", "childcare"), "fa-child-reaching"),
    (("middle", "high_school", "secondary", "中学", "高中"), "fa-graduation-cap"),
    (("school", "学校", "小学"), "fa-school"),
    (("elderly", "养老", "老年", "nursing", "social_facility", "日间照料"), "fa-person-cane"),
    (("pharmacy", "药店", "药房"), "fa-prescription-bottle-medical"),
    (("hospital", "医院"), "fa-hospital"),
    (("clinic", "health", "doctor", "卫生", "诊所", "医疗", "社区医院"), "fa-house-medical"),
    (
        (
            "market",
            "marketplace",
            "菜市",
            "grocer",
            "supermarket",
            "超市",
            "convenience",
            "便利",
            "商业",
        ),
        "fa-basket-shopping",
    ),
    (("park", "公园", "绿地", "广场", "garden"), "fa-tree"),
    (("sport", "体育", "fitness", "健身", "pitch", "stadium", "运动"), "fa-dumbbell"),
    (("library", "图书", "culture", "文化", "community_centre", "活动"), "fa-book-open"),
    (("service", "服务", "社区", "community", "党群", "town_hall", "government"), "fa-people-roof"),
    (("bus", "公交", "transit", "subway", "地铁", "station"), "fa-bus"),
    (("police", "派出所", "警务"), "fa-shield-halved"),
    (("toilet", "厕所", "公厕"), "fa-toilet"),
    (("restaurant", "餐", "canteen", "食堂", "food"), "fa-utensils"),
)

#: Facility types drawn when a page opens even when there are many types (a 15-minute
#: life circle's everyday anchors: community service stations and kindergartens), by keyword.
PRIMARY_WORDS: Final = (
    "kindergarten",
    "nursery",
    "community_centre",
    "community centre",
    "community service",
    "幼儿园",
    "托育",
    "社区服务",
    "党群服务",
    "综合服务",
)
#: Up to this many facility types, every type is drawn when a page opens.
SHOW_ALL_TYPES_UP_TO: Final = 4

SITE_ICON: Final = "fa-star"
SITE_COLOR: Final = "#c51b7d"
GAP_COLOR: Final = "#d7301f"
COMMUNITY_COLOR: Final = "#111111"
GRID_LINE_COLOR: Final = "#2b2b2b"
COMPARE_COLOR: Final = "#111111"


def facility_icon(facility_type: str) -> str:
    """The Font Awesome (6, solid) class for a facility type, by keyword."""
    text = facility_type.lower()
    tokens = set(re.split(r"[^a-z]+", text))

    def hit(word: str) -> bool:
        if word.isascii() and "_" not in word:  # an English word: match whole words
            return word in tokens or f"{word}s" in tokens
        return word in text

    for words, icon in _ICONS:
        if any(hit(w) for w in words):
            return icon
    return "fa-location-dot"


def shown_types(types: Sequence[str]) -> set[str]:
    """The facility types whose layers are on when a page opens.

    Every type when there are at most :data:`SHOW_ALL_TYPES_UP_TO`; otherwise
    only community service stations and kindergartens (:data:`PRIMARY_WORDS`),
    or every type when the data has neither. The others stay in the layer control.
    """
    unique = sorted(set(types))
    if len(unique) <= SHOW_ALL_TYPES_UP_TO:
        return set(unique)
    primary = {t for t in unique if any(w in t.lower() for w in PRIMARY_WORDS)}
    return primary or set(unique)


def type_colors(types: Sequence[str]) -> dict[str, str]:
    """One colour per facility type, in the sorted order of the types."""
    return {t: TYPE_PALETTE[i % len(TYPE_PALETTE)] for i, t in enumerate(sorted(set(types)))}


def _position(values: npt.NDArray[np.float64], band: Band) -> npt.NDArray[np.float64]:
    below = (values - band.target) / max(band.target - band.low, 1e-9)
    above = (values - band.target) / max(band.high - band.target, 1e-9)
    return np.clip(np.where(values < band.target, below, above), -2.0, 2.0)


def deviation_colors(values: npt.ArrayLike, band: Band) -> list[str]:
    """Hex fill colours of grids on the diverging scale centred on the target."""
    x = _position(np.nan_to_num(np.asarray(values, dtype=np.float64)), band)
    xs = np.array([s[0] for s in _DEVIATION_STOPS])
    rgb = np.array([s[1] for s in _DEVIATION_STOPS], dtype=np.float64)
    channels = [np.interp(x, xs, rgb[:, k]).round().astype(int) for k in range(3)]
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in zip(*channels, strict=True)]


def grid_palette_index(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """A colour index per polygon such that touching polygons differ (greedy colouring)."""
    n = len(geoms)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    if n:
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        graph.add_edges_from(zip(left[keep].tolist(), right[keep].tolist(), strict=True))
    colouring = nx.greedy_color(graph, strategy="largest_first")
    return np.array([colouring[i] % len(GRID_PALETTE) for i in range(n)], dtype=np.int64)


@dataclass(frozen=True)
class Tiles:
    """A basemap: a tile URL template (``None`` for no basemap) and how data sits on it."""

    url: str | None
    name: str
    attribution: str
    gcj02: bool = False
    subdomains: str = "abc"
    max_native_zoom: int = 19
    overlays: tuple[str, ...] = field(default=())


_TIANDITU: Final = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
    "&TILECOL={{x}}&tk={key}"
)


def parse_tiles(spec: str, labels: Mapping[str, str]) -> Tiles:
    """Turn ``--tiles`` into a basemap.

    Parameters
    ----------
    spec
        ``osm``; ``amap`` (GCJ-02: the data layers are shifted to match);
        ``tianditu`` or ``tianditu:KEY`` (the key may also come from the
        ``GRIDDER_TIANDITU_KEY`` environment variable); ``none`` (no basemap, a
        clean offline background); or a URL template with ``{z}``, ``{x}`` and
        ``{y}``, prefixed ``gcj02:`` when its tiles are in GCJ-02.
    labels
        The page's labels (for the basemap's name in the layer control).

    Raises
    ------
    InputError
        For an unknown value, a URL template without ``{z}/{x}/{y}`` or
        Tianditu without a key.
    """
    text = spec.strip()
    lower = text.lower()
    if lower == "osm":
        return Tiles(
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            labels["basemap_osm"],
            OSM_ATTRIBUTION,
            subdomains="abc",
        )
    if lower == "none":
        return Tiles(None, "", OSM_ATTRIBUTION)
    if lower == "amap":
        return Tiles(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}",
            labels["basemap_amap"],
            f"© 高德地图 AutoNavi · {OSM_ATTRIBUTION}",
            gcj02=True,
            subdomains="1234",
            max_native_zoom=18,
        )
    if lower == "tianditu" or lower.startswith("tianditu:"):
        key = text.partition(":")[2] or os.environ.get("GRIDDER_TIANDITU_KEY", "")
        if not key:
            raise InputError.single(
                "--tiles",
                spec,
                "Tianditu tiles need a key: --tiles tianditu:KEY or GRIDDER_TIANDITU_KEY",
            )
        return Tiles(
            _TIANDITU.format(layer="vec", key=key),
            labels["basemap_tianditu"],
            f"© 天地图 Tianditu · {OSM_ATTRIBUTION}",
            subdomains="01234567",
            max_native_zoom=18,
            overlays=(_TIANDITU.format(layer="cva", key=key),),
        )
    gcj = lower.startswith("gcj02:")
    url = text[len("gcj02:") :] if gcj else text
    if all(part in url for part in ("{z}", "{x}", "{y}")):
        return Tiles(url, labels["basemap_url"], OSM_ATTRIBUTION, gcj02=gcj)
    raise InputError.single(
        "--tiles",
        spec,
        "expected osm, amap, tianditu[:KEY], none or a URL template with {z}/{x}/{y}",
    )


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def legend_html(
    *,
    labels: Mapping[str, str],
    band: Band,
    facility_types: Mapping[str, str],
    iso_types: Sequence[str],
    show_gaps: bool,
    show_sites: bool,
    show_compare: bool,
) -> str:
    """The legend's (图例) inner HTML, every text escaped."""
    e = html.escape
    col = labels["workload"] if band.column == "workload" else labels["households"]
    lo2 = max(band.target - 2 * (band.target - band.low), 0.0)
    hi2 = band.target + 2 * (band.high - band.target)
    stops = ", ".join(f"rgb{tuple(rgb)} {int((x + 2) * 25)}%" for x, rgb in _DEVIATION_STOPS)
    ticks = "".join(
        f'<span style="left:{pos}%">{e(text)}</span>'
        for pos, text in (
            (0, f"≤{_fmt(lo2)}"),
            (25, _fmt(band.low)),
            (50, _fmt(band.target)),
            (75, _fmt(band.high)),
            (100, f"≥{_fmt(hi2)}"),
        )
    )
    title = labels["dev_title"].format(
        col=col, t=_fmt(band.target), lo=_fmt(band.low), hi=_fmt(band.high)
    )
    parts = [
        f"<details open><summary>{e(labels['legend'])}</summary>",
        f'<div class="gr-sec">{e(title)}</div>',
        f'<div class="gr-bar" style="background:linear-gradient(to right, {stops})"></div>',
        f'<div class="gr-ticks">{ticks}</div>',
        f'<div><span class="gr-sw" style="border:2px solid {COMMUNITY_COLOR};background:none">'
        f"</span>{e(labels['layer_communities'])}</div>",
        f'<div><span class="gr-sw" style="border-radius:50%;background:{GRID_PALETTE[0]}">'
        f"</span>{e(labels['buildings_legend'])}</div>",
    ]
    if facility_types:
        parts.append(f'<div class="gr-sec">{e(labels["facility_type"])}</div>')
        for name, color in facility_types.items():
            parts.append(
                f'<div><span class="gr-ic"><i class="fa-solid {facility_icon(name)}" '
                f'style="color:{color}"></i></span>{e(name)}</div>'
            )
    iso_colors = [facility_types[t] for t in dict.fromkeys(iso_types) if t in facility_types]
    if iso_colors:
        stripes = ", ".join(iso_colors if len(iso_colors) > 1 else iso_colors * 2)
        parts.append(
            f'<div class="gr-sec"><span class="gr-sw" style="opacity:.6;background:'
            f'linear-gradient(to right, {stripes})"></span>{e(labels["iso_legend"])}</div>'
        )
    if show_gaps:
        parts.append(
            f'<div><span class="gr-sw" style="background:{GAP_COLOR};opacity:.6"></span>'
            f"{e(labels['gaps'])}</div>"
        )
    if show_sites:
        parts.append(
            f'<div><span class="gr-ic"><i class="fa-solid {SITE_ICON}" '
            f'style="color:{SITE_COLOR}"></i></span>{e(labels["layer_sites"])}</div>'
        )
    if show_compare:
        parts.append(
            f'<div><span class="gr-sw" style="border:2px dashed {COMPARE_COLOR};'
            f'background:none"></span>{e(labels["layer_compare"])}</div>'
        )
    parts.append("</details>")
    return "".join(parts)
