"""One entry point that reads, validates and prepares every input of a run.

Every command reads its inputs through :func:`load_inputs`, so the same rules
(formats, aliases, CRS, validation, household estimation) apply everywhere.
Problems of all files are collected and raised once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import geopandas as gpd

from gridder.errors import InputError, Problem
from gridder.io.read import InputSpec, read_layer
from gridder.prepare import HouseholdRule, Inputs, prepare
from gridder.validate import validate_layer

__all__ = ["load_inputs", "read_valid"]

log = logging.getLogger(__name__)


def read_valid(
    path: str,
    kind: str,
    *,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    fix_geometry: bool = False,
) -> gpd.GeoDataFrame:
    """Read and validate one layer (raises :class:`InputError` on any problem)."""
    frame = read_layer(InputSpec(path, kind, crs=crs, columns=columns))
    source = str(frame.attrs.get("source", path))  # names the layer read from a GeoPackage
    return validate_layer(frame, kind, source=source, fix_geometry=fix_geometry)


def load_inputs(
    *,
    communities: str,
    buildings: str,
    streets: str | None = None,
    facilities: str | None = None,
    compounds: str | None = None,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    fix_geometry: bool = False,
    rule: HouseholdRule | None = None,
) -> Inputs:
    """Read, validate and prepare the inputs of a run.

    Parameters
    ----------
    communities, buildings
        Paths (``file.gpkg:layer`` allowed) of the required layers.
    streets, facilities, compounds
        Paths of the optional layers.
    crs
        ``--crs`` for inputs that embed no CRS (``gcj02``, ``bd09``, ``EPSG:n``).
    columns
        ``--columns`` mapping, file header → canonical name.
    fix_geometry
        Repair invalid geometries instead of refusing them.
    rule
        Household estimation rule.

    Returns
    -------
    Inputs

    Raises
    ------
    InputError
        With every problem of every file.
    """
    wanted: dict[str, str] = {"communities": communities, "buildings": buildings}
    for kind, path in (("streets", streets), ("facilities", facilities), ("compounds", compounds)):
        if path:
            wanted[kind] = path
    layers: dict[str, gpd.GeoDataFrame] = {}
    problems: list[Problem] = []
    sources: dict[str, dict[str, Any]] = {}
    for kind, path in wanted.items():
        try:
            layers[kind] = read_valid(
                path, kind, crs=crs, columns=columns, fix_geometry=fix_geometry
            )
            sources[kind] = {
                "file": path,
                "features": len(layers[kind]),
                "crs": layers[kind].attrs.get("source_crs", "EPSG:4326"),
            }
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    inputs = prepare(
        layers["communities"],
        layers["buildings"],
        streets=layers.get("streets"),
        facilities=layers.get("facilities"),
        compounds=layers.get("compounds"),
        rule=rule,
        sources=sources,
        buildings_source=buildings,
    )
    return inputs
