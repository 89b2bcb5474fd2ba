"""The offline assets of gridder's maps: Leaflet, MarkerCluster, Font Awesome, our own JS and CSS.

Folium's default page pulls Leaflet, jQuery, Bootstrap, Leaflet.awesome-markers
and glyphicons from public CDNs, which are slow or blocked in China and absent
on government intranets (政务内网). gridder's maps instead reference only
relative ``assets/...`` paths, and :func:`write_assets` copies those files out
of the Python packages that ship them (XStatic-Leaflet,
XStatic-Leaflet-MarkerCluster, XStatic-Font-Awesome). jQuery and Bootstrap are
not needed at all. The small script that draws gridder's layers from compact
inline data (``gridder.js``) and its stylesheet live here as text.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import xstatic.pkg.font_awesome as xs_font_awesome
import xstatic.pkg.leaflet as xs_leaflet
import xstatic.pkg.leaflet_markercluster as xs_markercluster

from gridder.errors import GridderError
from gridder.io.write import atomic_path

__all__ = ["ASSET_DIR", "CSS_ASSETS", "GRIDDER_CSS", "GRIDDER_JS", "JS_ASSETS", "write_assets"]

log = logging.getLogger(__name__)

#: Folder, relative to a map's directory, that holds every script, style and font.
ASSET_DIR: Final = "assets"


@dataclass(frozen=True)
class _Copy:
    """One file copied from an installed package into ``assets/``."""

    src_dir: str
    src: str
    dest: str


_COPIES: Final = (
    _Copy(xs_leaflet.BASE_DIR, "leaflet.js", "leaflet/leaflet.js"),
    _Copy(xs_leaflet.BASE_DIR, "leaflet.css", "leaflet/leaflet.css"),
    _Copy(xs_leaflet.BASE_DIR, "images/layers.png", "leaflet/images/layers.png"),
    _Copy(xs_leaflet.BASE_DIR, "images/layers-2x.png", "leaflet/images/layers-2x.png"),
    _Copy(xs_leaflet.BASE_DIR, "images/marker-icon.png", "leaflet/images/marker-icon.png"),
    _Copy(xs_leaflet.BASE_DIR, "images/marker-icon-2x.png", "leaflet/images/marker-icon-2x.png"),
    _Copy(xs_leaflet.BASE_DIR, "images/marker-shadow.png", "leaflet/images/marker-shadow.png"),
    _Copy(xs_markercluster.BASE_DIR, "leaflet.markercluster.js", "markercluster/markercluster.js"),
    _Copy(xs_markercluster.BASE_DIR, "MarkerCluster.css", "markercluster/MarkerCluster.css"),
    _Copy(
        xs_markercluster.BASE_DIR,
        "MarkerCluster.Default.css",
        "markercluster/MarkerCluster.Default.css",
    ),
    *(
        _Copy(xs_font_awesome.BASE_DIR, name, f"fontawesome/{name}")
        for name in (
            "css/fontawesome.min.css",
            "css/solid.min.css",
            "webfonts/fa-solid-900.woff2",
            "webfonts/fa-solid-900.ttf",
            "LICENSE.txt",
        )
    ),
)

#: Scripts every page loads, in order: (folium resource name, relative URL).
JS_ASSETS: Final = (
    ("leaflet", f"{ASSET_DIR}/leaflet/leaflet.js"),
    ("markercluster", f"{ASSET_DIR}/markercluster/markercluster.js"),
    ("gridder", f"{ASSET_DIR}/gridder.js"),
)

#: Stylesheets every page loads: (folium resource name, relative URL).
CSS_ASSETS: Final = (
    ("leaflet_css", f"{ASSET_DIR}/leaflet/leaflet.css"),
    ("markercluster_css", f"{ASSET_DIR}/markercluster/MarkerCluster.css"),
    ("markercluster_default_css", f"{ASSET_DIR}/markercluster/MarkerCluster.Default.css"),
    ("fontawesome_css", f"{ASSET_DIR}/fontawesome/css/fontawesome.min.css"),
    ("fontawesome_solid_css", f"{ASSET_DIR}/fontawesome/css/solid.min.css"),
    ("gridder_css", f"{ASSET_DIR}/gridder.css"),
)

GRIDDER_JS: Final = r"""/* gridder maps: draws a plan's layers from inline JSON (Leaflet 1.9). */
(function (root) {
  "use strict";
  var G = {};
  var ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"};
  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  }
  G.esc = esc;

  /* The JSON held in <script type="application/json" id=...>, parsed once on demand. */
  var cache = {};
  G.data = function (id) {
    if (!(id in cache)) { cache[id] = JSON.parse(document.getElementById(id).textContent); }
    return cache[id];
  };

  function table(rows) {
    var h = "<table class=\"gr-tip\">";
    for (var i = 0; i < rows.length; i++) {
      var v = rows[i][1];
      if (v === null || v === undefined || v === "") { continue; }
      h += "<tr><th>" + esc(rows[i][0]) + "</th><td>" + esc(v) + "</td></tr>";
    }
    return h + "</table>";
  }
  G.table = table;

  /* Panes keep the drawing order whatever order layers are toggled in. */
  var PANES = [["gr-iso", 405], ["gr-gaps", 410], ["gr-grids", 415], ["gr-compare", 420],
               ["gr-communities", 425], ["gr-buildings", 430], ["gr-labels", 435]];
  G.panes = function (map) {
    for (var i = 0; i < PANES.length; i++) {
      if (!map.getPane(PANES[i][0])) {
        map.createPane(PANES[i][0]).style.zIndex = String(PANES[i][1]);
      }
    }
  };

  function featureHtml(p, o) {
    var rows = [];
    for (var i = 0; i < o.fields.length; i++) { rows.push([o.fields[i][1], p[o.fields[i][0]]]); }
    if (o.coverage && p.cov) {
      for (var j = 0; j < o.coverage.length; j++) {
        rows.push([o.coverage[j], p.cov[j] === null ? "–" : p.cov[j] + "%"]);
      }
    }
    var head = o.title ? "<div class=\"gr-tip-title\">" + esc(o.titleLabel || "") + " " +
      esc(p[o.title]) + "</div>" : "";
    return head + table(rows);
  }

  /* A GeoJSON layer; styles come from the options, per-feature colours from _fill/_stroke.
     Tooltips and popups are bound on first use, so thousands of grids load fast. */
  G.polygons = function (map, id, o) {
    G.panes(map);
    var layer = L.geoJSON(null, {
      pane: o.pane,
      style: function (f) {
        var p = f.properties;
        return {className: o.className, color: p._stroke || o.color, weight: o.weight,
                opacity: o.opacity, dashArray: o.dashArray || null, fill: o.fill !== false,
                fillColor: p._fill || o.fillColor, fillOpacity: o.fillOpacity};
      }
    });
    layer.on("mouseover", function (e) {
      var l = e.layer;
      if (!l.getTooltip()) {
        l.bindTooltip(featureHtml(l.feature.properties, o),
                      {sticky: true, className: "gr-tooltip"});
        l.openTooltip(e.latlng);
      }
      if (o.highlight) { l.setStyle({weight: o.weight + 2}); }
    });
    layer.on("mouseout", function (e) {
      if (o.highlight) { e.layer.setStyle({weight: o.weight}); }
    });
    if (o.popup) {
      layer.on("click", function (e) {
        var l = e.layer, p = l.feature.properties;
        if (l.getPopup()) { return; }
        var link = o.link && p[o.link] ? "<a class=\"gr-link\" href=\"" + esc(p[o.link]) + "\">" +
          esc(o.linkText) + "</a>" : "";
        l.bindPopup(featureHtml(p, o) + link).openPopup(e.latlng);
      });
    }
    layer.addData(G.data(id));
    if (o.labels) { G.labels(map, layer, o.labels); }
    return layer;
  };

  /* Each feature's o.labels.field written at its _lp point, from zoom o.labels.minZoom on,
     while its layer is shown; only the labels in view are added. */
  G.labels = function (map, layer, lo) {
    var group = L.layerGroup(), marks = null;
    function build() {
      marks = [];
      layer.eachLayer(function (l) {
        var p = l.feature.properties;
        if (!p._lp) { return; }
        marks.push(L.marker(p._lp, {
          interactive: false, keyboard: false, pane: "gr-labels",
          icon: L.divIcon({className: "gr-label", iconSize: null,
                           html: "<span>" + esc(p[lo.field]) + "</span>"})
        }));
      });
    }
    function sync() {
      group.clearLayers();
      if (!map.hasLayer(layer) || map.getZoom() < lo.minZoom) {
        if (map.hasLayer(group)) { map.removeLayer(group); }
        return;
      }
      if (marks === null) { build(); }
      var view = map.getBounds().pad(0.25);
      for (var i = 0; i < marks.length; i++) {
        if (view.contains(marks[i].getLatLng())) { group.addLayer(marks[i]); }
      }
      if (!map.hasLayer(group)) { group.addTo(map); }
    }
    map.on("zoomend moveend", sync);
    layer.on("add remove", sync);
    map.whenReady(sync);
    return group;
  };

  function radius(hh) { return Math.max(2.5, Math.min(12, 2 + Math.sqrt(hh) * 0.9)); }

  /* Buildings: circle markers sized by households, coloured by grid, clustered when
     zoomed out. The markers are built the first time the layer is shown. */
  G.buildings = function (map, id, o) {
    G.panes(map);
    var group = L.markerClusterGroup({
      chunkedLoading: true, chunkInterval: 100, maxClusterRadius: 40,
      disableClusteringAtZoom: o.disableClusteringAtZoom, spiderfyOnMaxZoom: false,
      showCoverageOnHover: false, removeOutsideVisibleBounds: true,
      chunkProgress: function (done, total) {
        if (done === total) { group._grReady = true; group.fire("gr:ready"); }
      }
    });
    var built = false;
    function build() {
      if (built) { return; }
      built = true;
      var d = G.data(id), n = d.lat.length, ms = new Array(n);
      for (var i = 0; i < n; i++) {
        var m = L.circleMarker([d.lat[i], d.lon[i]], {
          pane: "gr-buildings", radius: radius(d.hh[i]), color: "#333", weight: 0.6,
          fillColor: o.colors[d.g[i]], fillOpacity: 0.9, className: "gr-building"
        });
        m._grIndex = i;
        ms[i] = m;
      }
      if (n === 0) { group._grReady = true; group.fire("gr:ready"); }
      group.addLayers(ms);
    }
    function html(i) {
      var d = G.data(id);
      return "<div class=\"gr-tip-title\">" + esc(o.label) + " " + esc(d.id[i]) + "</div>" +
        table([[o.gridLabel, o.codes[d.g[i]]], [o.hhLabel, d.hh[i]]]);
    }
    group.on("add", build);
    group.on("mouseover", function (e) {
      if (e.layer && e.layer._grIndex !== undefined && !e.layer.getTooltip()) {
        e.layer.bindTooltip(html(e.layer._grIndex), {className: "gr-tooltip"}).openTooltip();
      }
    });
    return group;
  };

  /* Point features (facilities, proposed sites) as DivIcons with a Font Awesome glyph. */
  G.points = function (map, id, o) {
    var d = G.data(id), group = L.featureGroup();
    var icon = L.divIcon({
      className: "gr-icon " + o.className, iconSize: [24, 24], iconAnchor: [12, 12],
      html: "<span style=\"background:" + esc(o.color) + "\"><i class=\"fa-solid " +
        esc(o.icon) + "\"></i></span>"
    });
    for (var i = 0; i < d.lat.length; i++) {
      var p = d.props[i], rows = [];
      for (var j = 0; j < o.fields.length; j++) { rows.push([o.fields[j], p[j]]); }
      L.marker([d.lat[i], d.lon[i]], {icon: icon, keyboard: false, riseOnHover: true})
        .bindTooltip("<div class=\"gr-tip-title\">" + esc(o.label) + "</div>" + table(rows),
                     {className: "gr-tooltip"})
        .addTo(group);
    }
    return group;
  };

  /* The legend (图例): HTML built and escaped in Python. */
  G.legend = function (map, html) {
    var c = L.control({position: "bottomleft"});
    c.onAdd = function () {
      var div = L.DomUtil.create("div", "gr-legend");
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    c.addTo(map);
    return c;
  };

  G.attribution = function (map, text) {
    if (map.attributionControl) { map.attributionControl.addAttribution(text); }
  };

  /* Legend, attribution and the ready mark of a page. */
  G.page = function (map, d) {
    G.legend(map, d.legend);
    if (d.attribution) { G.attribution(map, d.attribution); }
    G.ready(map);
  };

  /* Marks the page as drawn (after the next paint) for people and for tests. */
  G.ready = function (map) {
    root.gridderMap = map;
    root.requestAnimationFrame(function () {
      root.requestAnimationFrame(function () { root.gridderReady = root.performance.now(); });
    });
  };

  root.gridder = G;
})(window);
"""

GRIDDER_CSS: Final = """/* gridder maps */
html, body { margin: 0; padding: 0; height: 100%; }
body {
  display: flex; flex-direction: column; height: 100vh;
  font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC",
    "Helvetica Neue", Arial, sans-serif;
  font-size: 14px; color: #222;
}
.gr-header {
  order: -1; flex: 0 0 auto; padding: 6px 12px; background: #1f3b57; color: #fff;
  display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 16px;
}
.gr-header h1 { font-size: 17px; margin: 0; font-weight: 600; }
.gr-header a { color: #cfe3ff; }
.gr-header .gr-stat { font-size: 13px; opacity: 0.9; }
.folium-map { flex: 1 1 auto; min-height: 200px; height: auto !important; }
.gr-nobase { background: #eef0ec; }
.gr-summary { order: 1; flex: 0 0 auto; max-height: 36vh; overflow: auto; padding: 4px 12px 10px; }
.gr-summary h2 { font-size: 15px; margin: 6px 0; }
.gr-summary table { border-collapse: collapse; font-size: 13px; }
.gr-summary th, .gr-summary td { border: 1px solid #ccd; padding: 2px 8px; text-align: right; }
.gr-summary th { background: #eef2f7; position: sticky; top: 0; }
.gr-summary td.gr-l, .gr-summary th.gr-l { text-align: left; }
.gr-summary tr.gr-total td { font-weight: 600; background: #f6f6f6; }
.gr-legend {
  background: rgba(255, 255, 255, 0.94); padding: 6px 9px; border-radius: 5px;
  box-shadow: 0 1px 5px rgba(0, 0, 0, 0.35); font-size: 12px; line-height: 1.45;
  max-height: 60vh; overflow: auto; max-width: 260px;
}
.gr-legend summary { font-weight: 600; font-size: 13px; cursor: pointer; }
.gr-legend .gr-sec { margin-top: 5px; font-weight: 600; }
.gr-legend .gr-bar { height: 10px; width: 200px; margin: 2px 14px 0; border: 1px solid #999; }
.gr-legend .gr-ticks { position: relative; height: 14px; width: 200px; margin: 0 14px;
  font-size: 11px; }
.gr-legend .gr-ticks span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.gr-legend .gr-sw {
  display: inline-block; width: 14px; height: 10px; margin-right: 5px;
  border: 1px solid #666; vertical-align: middle;
}
.gr-legend .gr-ic { display: inline-block; width: 18px; text-align: center; margin-right: 4px; }
.gr-icon span {
  display: flex; align-items: center; justify-content: center; width: 22px; height: 22px;
  border-radius: 50%; border: 1px solid #fff; color: #fff; font-size: 11px;
  box-shadow: 0 0 3px rgba(0, 0, 0, 0.6);
}
.gr-icon.gr-site span { border-radius: 3px; border: 2px solid #fff; }
.gr-tip { border-collapse: collapse; }
.gr-tip th { text-align: left; font-weight: normal; color: #555; padding: 0 8px 0 0; }
.gr-tip td { text-align: right; padding: 0; }
.gr-tip-title { font-weight: 600; margin-bottom: 2px; }
.leaflet-pane > svg { pointer-events: none; }
.gr-label { pointer-events: none; }
.gr-label span {
  position: absolute; transform: translate(-50%, -50%); white-space: nowrap;
  font-size: 11px; font-weight: 700; color: #1a1a1a;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff;
}
"""


def write_assets(out_dir: str | Path) -> Path:
    """Copy every script, style and font a map needs into ``out_dir/assets``.

    Parameters
    ----------
    out_dir
        The maps' directory; created when missing.

    Returns
    -------
    Path
        The assets directory.

    Raises
    ------
    GridderError
        When an installed package lacks a file it should ship.
    """
    assets = Path(out_dir) / ASSET_DIR
    for item in _COPIES:
        src = Path(item.src_dir) / item.src
        if not src.is_file():
            msg = f"cannot write the map assets: {src} is missing (reinstall the xstatic packages)"
            raise GridderError(msg)
        dest = assets / item.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    for name, text in (("gridder.js", GRIDDER_JS), ("gridder.css", GRIDDER_CSS)):
        with atomic_path(assets / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
    log.debug("map assets written to %s", assets)
    return assets
