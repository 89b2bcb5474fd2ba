"""gridder: community grid planning (网格化管理) and walking service coverage (生活圈).

The pipeline runs one way: read → validate → prepare → graph → partition →
polygons → coverage → publish. Each step is a module (see DESIGN.md); the
command line (:mod:`gridder.cli`) and the API (``api``) call :mod:`gridder.pipeline`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridder")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
