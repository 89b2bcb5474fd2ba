"""Folium maps of a plan that open anywhere, with no internet access (``gridder map``).

:func:`write_maps` writes ``index.html`` (every grid of every community, and a
summary table per community) and one ``community-<id>.html`` per community into
a directory, with every script, style and font in ``assets/`` beside them
(:mod:`gridder.mapassets`): no CDN is ever referenced and the data is inline,
so the pages work from ``file://``, from the API's ``/maps/`` and on intranets
(政务内网) cut off from the internet; only the basemap's tiles need a network,
and ``tiles="none"`` needs none.

Layers (toggled in the layer control): grids coloured by deviation from the
target with dark outlines and their codes written inside from zoom 15–16 on,
community boundaries, buildings (sized by households, coloured by grid,
clustered when zoomed out), facilities by type, 5- and 15-minute walking areas,
coverage gaps, proposed sites and, with ``compare``, the previous plan's grid
boundaries dashed over the new ones. A page opens on the grids: walking areas
and gaps start hidden, and with many facility types only community service
stations and kindergartens are shown (:func:`gridder.mapstyle.shown_types`).
When the plan has a ``workers`` layer (``gridder workers``), each grid's
tooltip and popup name its workers (网格员 / 专职网格员) and the summary table
counts them per community. The modules behind it: reading and
simplifying (:mod:`gridder.mapdata`), what each page draws
(:mod:`gridder.mapscene`), the folium layers (:mod:`gridder.maplayers`), the
look (:mod:`gridder.mapstyle`) and the offline assets (:mod:`gridder.mapassets`).

Examples
--------
>>> from gridder.maps import write_maps
>>> write_maps("plan.gpkg", out_dir="maps", coverage="coverage.gpkg")  # doctest: +SKIP
PosixPath('maps/index.html')
"""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from typing import Final

import numpy as np
import shapely
from branca.element import Figure

from gridder.errors import InputError, Problem
from gridder.io.write import atomic_path
from gridder.mapassets import write_assets
from gridder.mapdata import (
    check_same_plan,
    check_sites_plan,
    load_coverage,
    load_plan,
    load_sites,
)
from gridder.maplayers import (
    Raw,
    add_areas,
    add_buildings,
    add_communities,
    add_compare,
    add_facilities,
    add_grids,
    add_sites,
    finish,
    new_map,
)
from gridder.mapscene import Scene, build_scene, community_page_name, coverage_table
from gridder.mapstyle import LABELS, parse_tiles

__all__ = ["community_page_name", "write_maps"]

log = logging.getLogger(__name__)

#: How far around a community its page shows facilities, walking areas and sites.
NEIGHBOURHOOD_M: Final = 1000.0
_FOLIUM_ID: Final = re.compile(r"_([0-9a-f]{32})(?![0-9a-f])")


def _stable_ids(text: str) -> str:
    """Replace folium's random element ids by their order of appearance (reproducible pages)."""
    seen: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return "_" + seen.setdefault(match.group(1), str(len(seen) + 1))

    return _FOLIUM_ID.sub(number, text)


def _write_page(figure: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(_stable_ids(figure.render()), encoding="utf-8")
    return path


def _pct(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.1f}%"


def _staff_counts(scene: Scene) -> dict[str, tuple[int, int]] | None:
    """Grid workers and specialists per community id, and in total (key ``""``)."""
    workers = scene.plan.workers
    if workers is None:
        return None
    counts: dict[str, tuple[int, int]] = {}
    for role, comms in zip(workers["role"], workers["community_id"], strict=True):
        special = int(role == "specialist")
        for cid in {*str(comms).split(","), ""}:
            g, s = counts.get(cid.strip(), (0, 0))
            counts[cid.strip()] = (g + 1 - special, s + special)
    return counts


def _summary_html(scene: Scene) -> str:
    """The table under the overview: one row per community and a total."""
    e, labels, band = html.escape, scene.labels, scene.band
    grids = scene.plan.grids
    inside = band.in_band(
        grids[band.column].to_numpy(dtype=float), grids["n_buildings"].to_numpy(dtype=float)
    )
    households = grids["households"].to_numpy(dtype=float)
    comm_cov = coverage_table(scene.coverage, "community", scene.cov_keys)
    all_cov = coverage_table(scene.coverage, "all", scene.cov_keys)
    staff = _staff_counts(scene)
    head = [
        labels["community"],
        labels["id"],
        labels["grids"],
        labels["households"],
        f"{labels['in_band']} ({band.low:g}–{band.high:g})",
    ]
    if staff is not None:
        head += [labels["n_grid_workers"], labels["n_specialists"]]
    head += scene.cov_labels
    title = e(labels["summary"])
    if staff is not None and scene.plan.meta.get("workers_stale"):
        title += f" <small class='gr-stale'>({e(labels['workers_stale'])})</small>"
    out = ["<div class='gr-summary'><h2>", title, "</h2><table><thead><tr>"]
    out += [
        f"<th class='gr-l'>{e(h)}</th>" if i < 2 else f"<th>{e(h)}</th>" for i, h in enumerate(head)
    ]
    out.append("</tr></thead><tbody>")

    def row(first: str, cid: str, sel: np.ndarray, cov: list[float | None], cls: str) -> None:
        counted = inside[sel][np.isfinite(inside[sel])]
        share = float(counted.mean() * 100.0) if len(counted) else None
        cells = [
            first,
            e(cid),
            str(int(sel.sum())),
            f"{round(float(households[sel].sum())):,}",
            _pct(share),
        ]
        if staff is not None:
            cells += [str(n) for n in staff.get(cid, (0, 0))]
        cells += [_pct(v) for v in (cov or [None] * len(scene.cov_keys))]
        out.append(
            f"<tr class='{cls}'>"
            + "".join(
                f"<td class='gr-l'>{c}</td>" if i < 2 else f"<td>{c}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )

    cids = grids["community_id"].astype(str).to_numpy()
    for cid in sorted(scene.pages):
        link = f"<a href='{e(scene.pages[cid])}'>{e(scene.community_names[cid])}</a>"
        row(link, cid, cids == cid, comm_cov.get(cid, []), "gr-row")
    row(
        e(labels["total"]),
        "",
        np.ones(len(grids), dtype=bool),
        next(iter(all_cov.values()), []),
        "gr-total",
    )
    out.append("</tbody></table></div>")
    return "".join(out)


def _header_html(title: str, stats: str, back: str | None) -> str:
    e = html.escape
    link = f"<a href='index.html'>{e(back)}</a>" if back else ""
    return (
        f"<div class='gr-header'>{link}<h1>{e(title)}</h1>"
        f"<span class='gr-stat'>{e(stats)}</span></div>"
    )


def _overview(scene: Scene, out_dir: Path) -> Path:
    labels = scene.labels
    plan_id = str(scene.plan.meta.get("plan_id", scene.plan.path.stem))
    title = f"{labels['overview']} · {plan_id}"
    figure, fmap = new_map(scene, title)
    add_areas(fmap, scene, None)
    add_grids(fmap, scene, range(len(scene.grid_props)), link=True, weight=1.2, label_zoom=16)
    add_communities(fmap, scene, range(len(scene.community_geoms)), link=True)
    add_buildings(fmap, scene, np.ones(len(scene.buildings["lat"]), dtype=bool), show=False)
    add_facilities(fmap, scene, None)
    add_sites(fmap, scene, None)
    add_compare(fmap, scene, None)
    finish(
        fmap,
        scene,
        scene.grid_geoms if len(scene.grid_geoms) else scene.community_geoms,
        compare=scene.compare is not None,
    )
    grids = scene.plan.grids
    stats = (
        f"{labels['grids']} {len(grids):,} · {labels['households']} "
        f"{round(float(grids['households'].sum())):,}"
    )
    figure.html.add_child(Raw(_header_html(title, stats, None)))
    figure.html.add_child(Raw(_summary_html(scene)))
    return _write_page(figure, out_dir / "index.html")


def _community_page(scene: Scene, cid: str, out_dir: Path) -> Path:
    labels = scene.labels
    grids = scene.plan.grids
    rows = np.flatnonzero(grids["community_id"].astype(str).to_numpy() == cid)
    comm_rows = np.flatnonzero(scene.plan.communities["community_id"].astype(str) == cid)
    name = scene.community_names.get(cid, cid)
    title = f"{labels['community']} {name}"
    figure, fmap = new_map(scene, title)
    outline = scene.community_metric[comm_rows]
    area = shapely.buffer(shapely.union_all(outline), NEIGHBOURHOOD_M) if len(outline) else None
    add_areas(fmap, scene, area)
    add_grids(fmap, scene, rows.tolist(), link=False, weight=2.5, label_zoom=15, short_labels=True)
    if len(comm_rows):
        add_communities(fmap, scene, comm_rows.tolist(), link=False)
    add_buildings(fmap, scene, scene.buildings["community"] == cid, show=True)
    add_facilities(fmap, scene, area)
    add_sites(fmap, scene, area)
    add_compare(fmap, scene, cid)
    geoms = scene.grid_geoms[rows] if len(rows) else scene.community_geoms[comm_rows]
    finish(fmap, scene, geoms, compare=scene.compare is not None)
    hh = round(float(grids["households"].to_numpy(dtype=float)[rows].sum()))
    stats = f"{cid} · {labels['grids']} {len(rows)} · {labels['households']} {hh:,}"
    staff = _staff_counts(scene)
    if staff is not None:
        g, s = staff.get(cid, (0, 0))
        stats += f" · {labels['n_grid_workers']} {g} · {labels['n_specialists']} {s}"
    figure.html.add_child(Raw(_header_html(title, stats, labels["back"])))
    return _write_page(figure, out_dir / scene.pages[cid])


def _option_problems(out_dir: str | Path, lang: str) -> list[Problem]:
    """Problems with the options, found before any file is read or written."""
    problems: list[Problem] = []
    if lang not in LABELS:
        problems.append(Problem("--lang", lang, "expected zh or en"))
    out = Path(out_dir)
    for folder in (out, *out.parents):
        if not folder.exists():
            continue
        if folder == out and not folder.is_dir():
            problems.append(
                Problem(
                    "--out",
                    str(out_dir),
                    "names an existing file; maps are written into a folder "
                    "(give a folder name, such as maps)",
                )
            )
        elif not folder.is_dir():
            problems.append(Problem("--out", str(out_dir), f"{folder} is a file, not a folder"))
        break
    return problems


def write_maps(
    plan: str | Path,
    *,
    out_dir: str | Path,
    coverage: str | Path | None = None,
    sites: str | Path | None = None,
    compare: str | Path | None = None,
    tiles: str = "osm",
    lang: str = "zh",
) -> Path:
    """Write the overview and one page per community, with their offline assets.

    Parameters
    ----------
    plan
        A plan GeoPackage (CONTRACT §3).
    out_dir
        Directory for ``index.html``, ``community-<id>.html`` and ``assets/``;
        created when missing. Community pages left there by an earlier run for
        communities no longer in the plan are removed.
    coverage
        A coverage GeoPackage (CONTRACT §4): shares, walking areas, gaps, facilities.
    sites
        A GeoPackage with a ``sites`` layer of proposed facility sites.
    compare
        An earlier plan whose grid boundaries are drawn dashed over the new ones.
    tiles
        Basemap: ``osm``, ``amap`` (data shifted to GCJ-02), ``tianditu[:KEY]``,
        ``none`` (no network at all) or a URL template (``gcj02:URL`` for GCJ-02 tiles).
    lang
        ``zh`` (default) or ``en``.

    Returns
    -------
    Path
        The overview page, ``out_dir/index.html``.

    Raises
    ------
    InputError
        When a file is missing or lacks a layer or column, the coverage file is not
        one or was computed for another plan, ``out_dir`` is an existing file, or an
        option is unknown.
    """
    problems = _option_problems(out_dir, lang)
    if problems:
        raise InputError(problems)
    labels = LABELS[lang]
    basemap = parse_tiles(tiles, labels)
    plan_data = load_plan(plan)
    coverage_data = load_coverage(coverage) if coverage is not None else None
    if coverage_data is not None:
        check_same_plan(plan_data, coverage_data)
    sites_data = load_sites(sites) if sites is not None else None
    if sites is not None:
        check_sites_plan(plan_data, Path(sites))
    scene = build_scene(
        plan_data,
        coverage=coverage_data,
        sites=sites_data,
        compare=load_plan(compare) if compare is not None else None,
        tiles=basemap,
        labels=labels,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_assets(out)
    index = _overview(scene, out)
    for cid in sorted(scene.pages):
        _community_page(scene, cid, out)
    keep = set(scene.pages.values())
    for stale in out.glob("community-*.html"):
        if stale.name not in keep:
            stale.unlink()
    log.info("maps written to %s (%d community pages)", out, len(scene.pages))
    return index
