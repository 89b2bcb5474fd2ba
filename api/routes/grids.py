"""``GET /v1/grids`` and ``GET /v1/grids/{grid_id}``: grids as RFC 7946 GeoJSON (WGS84).

Exterior rings are counterclockwise and holes clockwise (RFC 7946 §3.1.6), as
:class:`gridder.plan.Plan` serialises them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import PlanDep
from api.schemas import ErrorOut, Feature, FeatureCollection

__all__ = ["router"]

router = APIRouter(prefix="/grids", tags=["grids"])

GEOJSON = "application/geo+json"


@router.get(
    "",
    response_model=FeatureCollection,
    responses={
        200: {"content": {GEOJSON: {}}},
        404: {"model": ErrorOut, "description": "No grids for this community"},
    },
    summary="The grids, as a GeoJSON FeatureCollection",
)
async def read_grids(
    plan: PlanDep,
    community_id: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Only this community's grids."),
    ] = None,
) -> Response:
    """Every grid (or one community's) with its columns and, when known, its workers.

    Polygons follow RFC 7946: exterior rings counterclockwise, holes clockwise.
    """
    return Response(plan.grids_json(community_id), media_type=GEOJSON)


@router.get(
    "/{grid_id:path}",
    response_model=Feature,
    responses={
        200: {"content": {GEOJSON: {}}},
        404: {"model": ErrorOut, "description": "No such grid in the plan"},
    },
    summary="One grid, as a GeoJSON Feature",
)
async def read_grid(
    plan: PlanDep,
    grid_id: Annotated[str, Path(min_length=1, max_length=200, examples=["C01-003"])],
) -> Response:
    """One grid with its statistics (households, workload, …) and assigned workers.

    The polygon follows RFC 7946: exterior ring counterclockwise, holes clockwise.
    """
    return Response(plan.grid_json(grid_id), media_type=GEOJSON)
