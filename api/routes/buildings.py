"""``GET /v1/buildings/{building_id}``: the grid of one building."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import PlanDep
from api.schemas import Building, ErrorOut

__all__ = ["router"]

router = APIRouter(prefix="/buildings", tags=["lookup"])


@router.get(
    "/{building_id:path}",
    response_model=Building,
    responses={404: {"model": ErrorOut, "description": "No such building in the plan"}},
    summary="Which grid a building is in",
)
async def read_building(
    plan: PlanDep,
    building_id: Annotated[str, Path(min_length=1, max_length=200, examples=["B1024"])],
) -> dict[str, Any]:
    """Return the building's ``grid_id``, ``community_id`` and ``households`` in the plan."""
    return plan.building(building_id)
