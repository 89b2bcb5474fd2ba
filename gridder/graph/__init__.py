"""Graphs of a community: building adjacency from a street-cut tessellation."""

from gridder.graph.adjacency import (
    Adjacency,
    Tessellation,
    build_tessellation,
    cell_adjacency,
    components,
)
from gridder.graph.tessellation import FaceTessellation, tessellate

__all__ = [
    "Adjacency",
    "FaceTessellation",
    "Tessellation",
    "build_tessellation",
    "cell_adjacency",
    "components",
    "tessellate",
]
