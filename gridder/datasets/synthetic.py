"""A generated compound-style city for tests and benchmarks, at any size.

Blocks of a square street grid are gated high-rise compounds (小区) of 18–33
storey towers holding 50–400 households each, old low-rise neighbourhoods of
1–24-household buildings, or non-residential blocks. Every second street in x
and every third in y is a major road (secondary); the others are residential
streets. Communities are the areas the major roads enclose (2 × 3 blocks,
about 3,000–10,000 households). With ``lanes=True`` compounds and old blocks
also get internal roads between rows of buildings (the same buildings). The
city sits in central Nanjing's UTM zone and is returned in WGS84, like any input.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from gridder.schema import WGS84

__all__ = ["SyntheticCity", "generate_city"]

_UTM = "EPSG:32650"
_ORIGIN = (668_000.0, 3_546_000.0)  # central Nanjing in UTM 50N


@dataclass(frozen=True)
class SyntheticCity:
    """A generated city's input layers (WGS84)."""

    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame

    @property
    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The input layers by contract name, as a GeoPackage holds them."""
        return {
            "communities": self.communities,
            "buildings": self.buildings,
            "streets": self.streets,
            "compounds": self.compounds,
        }

    @property
    def households(self) -> int:
        """Total households."""
        return int(self.buildings["households"].sum())


_MARGIN = 15.0


def _block_buildings(
    rng: np.random.Generator, kind: str, x0: float, y0: float, size: float
) -> tuple[np.ndarray, np.ndarray]:
    margin = _MARGIN
    if kind == "compound":
        n = int(rng.integers(6, 21))
        hh = rng.choice([54, 66, 104, 132, 156, 198, 264, 312, 396], size=n).astype(np.int64)
    elif kind == "lowrise":
        n = int(rng.integers(20, 81))
        hh = rng.integers(1, 25, size=n).astype(np.int64)
    else:
        n = int(rng.integers(2, 11))
        hh = np.zeros(n, dtype=np.int64)
    side = int(np.ceil(np.sqrt(n)))
    cells = rng.permutation(side * side)[:n]
    step = (size - 2 * margin) / side
    gx, gy = cells % side, cells // side
    x = x0 + margin + (gx + 0.5) * step + rng.uniform(-0.2, 0.2, n) * step
    y = y0 + margin + (gy + 0.5) * step + rng.uniform(-0.2, 0.2, n) * step
    return np.column_stack([x, y]), hh


def _block_lanes(n: int, x0: float, y0: float, size: float) -> list[shapely.LineString]:
    """Internal roads of a block of ``n`` buildings: between every second row of buildings.

    They run from street to street across the block (a compound's internal
    road meets the city street at its gates; an old neighbourhood's lanes
    cross it), halfway between two rows of the block's building layout.
    """
    side = int(np.ceil(np.sqrt(n)))
    step = (size - 2 * _MARGIN) / side
    return [
        shapely.LineString([(x0, y), (x0 + size, y)])
        for y in (y0 + _MARGIN + k * step for k in range(2, side - 1, 2))
    ]


def generate_city(
    blocks_x: int = 6,
    blocks_y: int = 6,
    *,
    seed: int = 0,
    block_size: float = 200.0,
    shares: tuple[float, float, float] = (0.45, 0.35, 0.20),
    lanes: bool = False,
) -> SyntheticCity:
    """Generate a city of ``blocks_x × blocks_y`` blocks.

    Parameters
    ----------
    blocks_x, blocks_y
        Blocks across and down; communities are 2 × 3 blocks (the last ones
        may be smaller).
    seed
        The same seed gives the same city.
    block_size
        Block side, metres (streets run along block edges).
    shares
        Shares of compound, low-rise and non-residential blocks.
    lanes
        Add internal roads (``highway=service``): in compounds and old
        low-rise blocks, a road between every second row of buildings, from
        street to street, as real districts have. Off, a block has no street
        inside it. The buildings are the same either way.

    Returns
    -------
    SyntheticCity
        ``communities`` (community_id), ``buildings`` (building_id, households,
        compound_id, levels), ``streets`` (highway, name), ``compounds``.

    Examples
    --------
    >>> city = generate_city(4, 6, seed=1)
    >>> len(city.communities), city.households > 5000
    (4, True)
    """
    rng = np.random.default_rng(seed)
    ox, oy = _ORIGIN
    kinds = rng.choice(["compound", "lowrise", "other"], size=(blocks_y, blocks_x), p=shares)
    xy_parts: list[np.ndarray] = []
    hh_parts: list[np.ndarray] = []
    compound_ids: list[object] = []
    compound_polys: list[tuple[str, shapely.Polygon]] = []
    inner: list[shapely.LineString] = []
    for j in range(blocks_y):
        for i in range(blocks_x):
            x0, y0 = ox + i * block_size, oy + j * block_size
            xy, hh = _block_buildings(rng, str(kinds[j, i]), x0, y0, block_size)
            xy_parts.append(xy)
            hh_parts.append(hh)
            if lanes and kinds[j, i] != "other":
                inner += _block_lanes(len(hh), x0, y0, block_size)
            cid = f"X{j:03d}{i:03d}" if kinds[j, i] == "compound" else None
            compound_ids += [cid] * len(hh)
            if cid is not None:
                compound_polys.append(
                    (cid, shapely.box(x0 + 8, y0 + 8, x0 + block_size - 8, y0 + block_size - 8))
                )
    xy = np.vstack(xy_parts)
    hh = np.concatenate(hh_parts)
    levels = np.where(hh >= 50, rng.integers(18, 34, len(hh)), rng.integers(2, 7, len(hh)))
    buildings = gpd.GeoDataFrame(
        {
            "building_id": [f"B{k:06d}" for k in range(len(hh))],
            "households": hh,
            "compound_id": compound_ids,
            "levels": levels.astype(float),
        },
        geometry=shapely.points(xy),
        crs=_UTM,
    )
    lines, highway = [], []
    width, height = blocks_x * block_size, blocks_y * block_size
    for i in range(blocks_x + 1):
        x = ox + i * block_size
        lines.append(shapely.LineString([(x, oy), (x, oy + height)]))
        highway.append("secondary" if i % 2 == 0 else "residential")
    for j in range(blocks_y + 1):
        y = oy + j * block_size
        lines.append(shapely.LineString([(ox, y), (ox + width, y)]))
        highway.append("secondary" if j % 3 == 0 else "residential")
    lines += inner
    highway += ["service"] * len(inner)
    streets = gpd.GeoDataFrame(
        {"highway": highway, "name": [f"S{k}" for k in range(len(lines))]},
        geometry=lines,
        crs=_UTM,
    )
    comm_geoms, comm_ids = [], []
    for j in range(0, blocks_y, 3):
        for i in range(0, blocks_x, 2):
            x0, y0 = ox + i * block_size, oy + j * block_size
            x1 = ox + min(i + 2, blocks_x) * block_size
            y1 = oy + min(j + 3, blocks_y) * block_size
            comm_geoms.append(shapely.box(x0, y0, x1, y1))
            comm_ids.append(f"C{j // 3:02d}{i // 2:02d}")
    communities = gpd.GeoDataFrame({"community_id": comm_ids}, geometry=comm_geoms, crs=_UTM)
    compounds = gpd.GeoDataFrame(
        {"compound_id": [c for c, _ in compound_polys]},
        geometry=[p for _, p in compound_polys],
        crs=_UTM,
    )
    return SyntheticCity(
        communities=communities.to_crs(WGS84),
        buildings=buildings.to_crs(WGS84),
        streets=streets.to_crs(WGS84),
        compounds=compounds.to_crs(WGS84),
    )
