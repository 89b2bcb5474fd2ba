"""The folium layers of gridder's maps, drawn in the browser by ``assets/gridder.js``.

Each layer is a :class:`folium.map.Layer` (so folium's LayerControl toggles it)
whose data and options sit in the page as JSON (``<script
type="application/json">``), parsed by the browser only when drawn: the
buildings of a whole city cost nothing until their layer is switched on. The
pages reference only local ``assets/`` files (:class:`OfflineMap`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.template import Template

from gridder.io.crs import wgs84_to_gcj02
from gridder.mapassets import CSS_ASSETS, JS_ASSETS
from gridder.mapdata import feature_collection, point_arrays, safe_json
from gridder.mapscene import Geoms, Scene, iso_display, minutes_label, near
from gridder.mapstyle import (
    COMMUNITY_COLOR,
    COMPARE_COLOR,
    GAP_COLOR,
    GRID_LINE_COLOR,
    SITE_COLOR,
    SITE_ICON,
    facility_icon,
    legend_html,
    shown_types,
)
from gridder.schema import WGS84

__all__ = [
    "DataLayer",
    "OfflineMap",
    "Raw",
    "add_areas",
    "add_buildings",
    "add_communities",
    "add_compare",
    "add_facilities",
    "add_grids",
    "add_sites",
    "finish",
    "new_map",
]


class OfflineMap(folium.Map):  # type: ignore[misc]
    """A folium map whose scripts and styles are the local ``assets/`` files (no CDN)."""

    default_js: ClassVar[list[tuple[str, str]]] = list(JS_ASSETS)
    default_css: ClassVar[list[tuple[str, str]]] = list(CSS_ASSETS)


class Raw(Element):  # type: ignore[misc]
    """Text placed in the page verbatim (folium would parse it as a template)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Raw"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """Return the text unchanged."""
        return self.text


def _json_tag(element_id: str, text: str) -> Raw:
    return Raw(f'<script type="application/json" id="{element_id}">{text}</script>')


class DataLayer(folium.map.Layer):  # type: ignore[misc]
    """A layer drawn by ``gridder.<factory>(map, data_id, options)`` from JSON in the page."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridder.{{ this.factory }}(
            {{ this._parent.get_name() }}, "{{ this.get_name() }}_data",
            gridder.data("{{ this.get_name() }}_options"));
        {% endmacro %}
        """
    )

    def __init__(
        self,
        factory: str,
        data_text: str,
        options: Mapping[str, Any],
        *,
        name: str,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GridderLayer"
        self.factory = factory
        self.data_text = data_text
        self.options_text = safe_json(dict(options))

    def render(self, **kwargs: Any) -> None:
        """Put the JSON into the page, then the script that draws it."""
        figure = self.get_root()
        name = self.get_name()
        figure.html.add_child(_json_tag(f"{name}_data", self.data_text), name=f"{name}_data")
        figure.html.add_child(
            _json_tag(f"{name}_options", self.options_text), name=f"{name}_options"
        )
        super().render(**kwargs)


class _PageScript(MacroElement):  # type: ignore[misc]
    """Legend, attribution and the ready mark, run after every layer exists."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        gridder.page({{ this._parent.get_name() }}, gridder.data("{{ this.get_name() }}_page"));
        {% endmacro %}
        """
    )

    def __init__(self, legend: str, attribution: str) -> None:
        super().__init__()
        self._name = "GridderPage"
        self.text = safe_json({"legend": legend, "attribution": attribution})

    def render(self, **kwargs: Any) -> None:
        """Put the legend's JSON into the page, then the script."""
        name = f"{self.get_name()}_page"
        self.get_root().html.add_child(_json_tag(name, self.text), name=name)
        super().render(**kwargs)


def new_map(scene: Scene, title: str) -> tuple[Figure, folium.Map]:
    """An empty page: the figure (titled) and its map with the basemap, if any."""
    figure = Figure(title=title.replace("&", "&amp;").replace("<", "&lt;"))
    tiles = scene.tiles
    fmap = OfflineMap(
        location=[0.0, 0.0], zoom_start=2, tiles=None, control_scale=True, prefer_canvas=False
    )
    fmap.options["maxZoom"] = 20  # MarkerCluster needs the map's own maximum zoom
    fmap.add_to(figure)
    if tiles.url is None:
        figure.header.add_child(
            Raw(f"<style>#{fmap.get_name()} {{ background: #eef0ec; }}</style>"), name="nobase"
        )
        return figure, fmap
    folium.TileLayer(
        tiles=tiles.url,
        attr=tiles.attribution,
        name=tiles.name,
        subdomains=tiles.subdomains,
        max_native_zoom=tiles.max_native_zoom,
        max_zoom=20,
        overlay=False,
        control=True,
    ).add_to(fmap)
    for url in tiles.overlays:
        folium.TileLayer(
            tiles=url,
            attr=tiles.attribution,
            subdomains=tiles.subdomains,
            max_native_zoom=tiles.max_native_zoom,
            max_zoom=20,
            overlay=True,
            control=False,
        ).add_to(fmap)
    return figure, fmap


def _polygons(
    fmap: folium.Map,
    geoms: Geoms,
    props: Sequence[Mapping[str, Any]],
    *,
    name: str,
    options: Mapping[str, Any],
    show: bool = True,
) -> None:
    DataLayer("polygons", feature_collection(geoms, props), options, name=name, show=show).add_to(
        fmap
    )


def add_grids(
    fmap: folium.Map,
    scene: Scene,
    rows: Sequence[int],
    *,
    link: bool,
    weight: float = 1.5,
    label_zoom: int = 16,
    short_labels: bool = False,
) -> None:
    """Grids coloured by deviation, outlined, with tooltips, popups and code labels.

    Parameters
    ----------
    fmap, scene
        The page's map and what it draws.
    rows
        Positions of the grids to draw in ``scene.grid_props``.
    link
        Popups link to the grid's community page (the overview).
    weight
        Outline width (px); doubled while the pointer is over a grid.
    label_zoom
        From this zoom on, each grid's code is written inside it.
    short_labels
        Write codes without their community's prefix (``003`` for ``C01-003``).
    """
    labels = scene.labels
    fields = [
        ["community", labels["community"]],
        ["hh", labels["households"]],
        ["wl", labels["workload"]],
        ["dev", labels["deviation"]],
        ["nb", labels["n_buildings"]],
        ["area", labels["area"]],
    ]
    if scene.plan.workers is not None:
        fields.append(["wk", labels["workers"]])
    _polygons(
        fmap,
        scene.grid_geoms[np.asarray(rows, dtype=int)],
        [scene.grid_props[i] for i in rows],
        name=labels["layer_grids"],
        options={
            "pane": "gr-grids",
            "className": "gr-grid",
            "color": GRID_LINE_COLOR,
            "weight": weight,
            "opacity": 0.95,
            "fillOpacity": 0.5,
            "highlight": True,
            "popup": True,
            "title": "code",
            "titleLabel": labels["grid"],
            "fields": fields,
            "coverage": scene.cov_labels,
            "link": "page" if link else None,
            "linkText": labels["open_page"],
            "labels": {"field": "lb" if short_labels else "code", "minZoom": label_zoom},
        },
    )


def add_communities(fmap: folium.Map, scene: Scene, rows: Sequence[int], *, link: bool) -> None:
    """Community boundaries (outlines only)."""
    labels = scene.labels
    ids = scene.plan.communities["community_id"].astype(str).to_numpy()[np.asarray(rows, int)]
    props = [
        {
            "name": scene.community_names.get(c, c),
            "id": c,
            "page": scene.pages.get(c) if link else None,
        }
        for c in ids
    ]
    _polygons(
        fmap,
        scene.community_geoms[np.asarray(rows, dtype=int)],
        props,
        name=labels["layer_communities"],
        options={
            "pane": "gr-communities",
            "className": "gr-community",
            "color": COMMUNITY_COLOR,
            "weight": 4,
            "opacity": 0.9,
            "fill": False,
            "popup": link,
            "title": "name",
            "titleLabel": labels["community"],
            "fields": [["id", labels["id"]]],
            "link": "page" if link else None,
            "linkText": labels["open_page"],
        },
    )


def add_areas(fmap: folium.Map, scene: Scene, area: Any) -> None:
    """Walking areas and coverage gaps, one layer per minutes value, all off at first.

    Gaps of every facility type drawn at once hide the grids, so a page opens on
    the grids; the planner switches on the gaps of the walking time in question.
    """
    labels, coverage = scene.labels, scene.coverage
    for minutes, parts in scene.iso:
        geoms, kept = iso_display(scene, parts, area)
        if not len(geoms):
            continue
        props: list[dict[str, Any]] = [
            {
                "t": t,
                "m": minutes_label(minutes, labels),
                "_fill": scene.type_colors.get(t, "#555555"),
                "_stroke": scene.type_colors.get(t, "#555555"),
            }
            for t in kept
        ]
        _polygons(
            fmap,
            geoms,
            props,
            name=labels["layer_iso"].format(m=f"{minutes:g}"),
            show=False,
            options={
                "pane": "gr-iso",
                "className": "gr-iso",
                "weight": 1,
                "opacity": 0.8,
                "fillOpacity": 0.15,
                "title": "t",
                "fields": [["m", ""]],
            },
        )
    if coverage is None or coverage.gaps is None or not len(scene.gap_geoms):
        return
    rows = near(scene.gap_metric, area)
    gaps = coverage.gaps.iloc[rows]
    minutes_all = gaps["minutes"].astype(float).to_numpy()
    for minutes in sorted(set(minutes_all.tolist())):
        sel = minutes_all == minutes
        part = gaps[sel]
        gap_props: list[dict[str, Any]] = [
            {"t": str(t), "hh": round(float(h))}
            for t, h in zip(part["facility_type"], part["households"], strict=True)
        ]
        geoms = scene.gap_geoms[rows[sel]]
        if area is not None:  # a community page shows the gaps around it, clipped
            geoms = _clip_display(scene, geoms, area)
        _polygons(
            fmap,
            geoms,
            gap_props,
            name=labels["layer_gaps"].format(m=minutes_label(minutes, labels)),
            show=False,
            options={
                "pane": "gr-gaps",
                "className": "gr-gap",
                "color": GAP_COLOR,
                "fillColor": GAP_COLOR,
                "weight": 1,
                "opacity": 0.9,
                "fillOpacity": 0.25,
                "dashArray": "4 3",
                "title": "t",
                "titleLabel": labels["gaps"],
                "fields": [["hh", labels["gap_households"]]],
            },
        )


def _clip_display(scene: Scene, geoms: Any, area: Any) -> Any:
    """Clip display geometries to the (display) bounding box of a metric area."""
    box = gpd.GeoSeries([shapely.envelope(area)], crs=scene.metric).to_crs(WGS84)
    minx, miny, maxx, maxy = box.total_bounds
    if scene.tiles.gcj02:
        (minx, maxx), (miny, maxy) = wgs84_to_gcj02([minx, maxx], [miny, maxy])
    pad = 0.0005
    return shapely.clip_by_rect(
        np.asarray(geoms, dtype=object), minx - pad, miny - pad, maxx + pad, maxy + pad
    )


def _points(
    fmap: folium.Map,
    frame: gpd.GeoDataFrame,
    rows: list[list[Any]],
    *,
    name: str,
    options: Mapping[str, Any],
    gcj02: bool,
    show: bool = True,
) -> None:
    lat, lon = point_arrays(frame, gcj02=gcj02)
    data = safe_json({"lat": lat, "lon": lon, "props": rows})
    DataLayer("points", data, options, name=name, show=show).add_to(fmap)


def add_facilities(fmap: folium.Map, scene: Scene, area: Any) -> None:
    """One layer of icons per facility type."""
    labels, coverage = scene.labels, scene.coverage
    if coverage is None or coverage.facilities is None or not len(coverage.facilities):
        return
    fac = coverage.facilities.iloc[near(scene.facility_metric, area)]
    shown = shown_types(list(scene.type_colors))
    for ftype, part in fac.groupby(fac["type"].astype(str), sort=True):
        names = part["name"] if "name" in part else pd.Series([None] * len(part))
        rows = [
            [str(i), None if pd.isna(n) else str(n)]
            for i, n in zip(part["facility_id"], names, strict=True)
        ]
        _points(
            fmap,
            part,
            rows,
            name=labels["layer_facilities"].format(type=ftype),
            gcj02=scene.tiles.gcj02,
            show=str(ftype) in shown,
            options={
                "icon": facility_icon(str(ftype)),
                "color": scene.type_colors[str(ftype)],
                "className": "gr-facility",
                "label": ftype,
                "fields": [labels["id"], labels["name"]],
            },
        )


def add_sites(fmap: folium.Map, scene: Scene, area: Any) -> None:
    """Proposed sites (stars)."""
    labels, sites = scene.labels, scene.sites
    if sites is None or not len(sites):
        return
    part = sites.iloc[near(scene.site_metric, area)]
    gained = part["households_gained"] if "households_gained" in part else [None] * len(part)
    rows = [
        [str(s), str(t), None if g is None or pd.isna(g) else round(float(g))]
        for s, t, g in zip(part["site_id"], part["facility_type"], gained, strict=True)
    ]
    _points(
        fmap,
        part,
        rows,
        name=labels["layer_sites"],
        gcj02=scene.tiles.gcj02,
        options={
            "icon": SITE_ICON,
            "color": SITE_COLOR,
            "className": "gr-site",
            "label": labels["layer_sites"],
            "fields": [labels["id"], labels["facility_type"], labels["gained"]],
        },
    )


def add_compare(fmap: folium.Map, scene: Scene, community: str | None) -> None:
    """The previous plan's grid boundaries, dashed."""
    old = scene.compare
    if old is None or not len(old):
        return
    rows = np.arange(len(old))
    if community is not None:
        rows = np.flatnonzero(old["community_id"].astype(str).to_numpy() == community)
    if not len(rows):
        return
    props = [
        {"code": str(g), "hh": round(float(h))}
        for g, h in zip(old["grid_id"].iloc[rows], old["households"].iloc[rows], strict=True)
    ]
    _polygons(
        fmap,
        scene.compare_geoms[rows],
        props,
        name=scene.labels["layer_compare"],
        options={
            "pane": "gr-compare",
            "className": "gr-compare",
            "color": COMPARE_COLOR,
            "weight": 2,
            "opacity": 0.85,
            "fill": False,
            "dashArray": "6 5",
            "title": "code",
            "titleLabel": scene.labels["layer_compare"],
            "fields": [["hh", scene.labels["households"]]],
        },
    )


def add_buildings(fmap: folium.Map, scene: Scene, mask: np.ndarray, *, show: bool) -> None:
    """Buildings: sized by households, coloured by grid, clustered when zoomed out."""
    b, labels = scene.buildings, scene.labels
    used, local = np.unique(b["g"][mask], return_inverse=True)
    data = safe_json(
        {
            "lat": b["lat"][mask].tolist(),
            "lon": b["lon"][mask].tolist(),
            "hh": b["hh"][mask].tolist(),
            "g": local.tolist(),
            "id": b["id"][mask].tolist(),
        }
    )
    options = {
        "codes": [scene.grid_codes[i] for i in used],
        "colors": [scene.grid_colors[i] for i in used],
        "disableClusteringAtZoom": 17,
        "label": labels["building"],
        "gridLabel": labels["grid"],
        "hhLabel": labels["households"],
    }
    DataLayer("buildings", data, options, name=labels["layer_buildings"], show=show).add_to(fmap)


def finish(fmap: folium.Map, scene: Scene, geoms: Geoms, *, compare: bool) -> None:
    """Layer control, fit to ``geoms``' bounds, legend, attribution and the ready mark."""
    coverage = scene.coverage
    has_gaps = coverage is not None and len(scene.gap_geoms) > 0
    legend = legend_html(
        labels=scene.labels,
        band=scene.band,
        facility_types=scene.type_colors,
        iso_types=[t for _, parts in scene.iso for t, _ in parts],
        show_gaps=has_gaps,
        show_sites=scene.sites is not None and len(scene.sites) > 0,
        show_compare=compare,
    )
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    if len(geoms):
        minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
        fmap.fit_bounds([[float(miny), float(minx)], [float(maxy), float(maxx)]])
    attribution = scene.tiles.attribution if scene.tiles.url is None else ""
    _PageScript(legend, attribution).add_to(fmap)
