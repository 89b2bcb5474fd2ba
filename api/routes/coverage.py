"""``GET /v1/coverage/summary``: the coverage summary rows of the served coverage file."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import CoverageDep
from api.schemas import CoverageSummary, ErrorOut

__all__ = ["router"]

router = APIRouter(prefix="/coverage", tags=["coverage"])


@router.get(
    "/summary",
    response_model=CoverageSummary,
    responses={404: {"model": ErrorOut, "description": "No coverage file on this server"}},
    summary="Share of households within walking reach, by scope and facility type",
)
async def read_coverage_summary(
    table: CoverageDep,
    scope: Annotated[Literal["all", "community", "grid"] | None, Query()] = None,
    scope_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    facility_type: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    minutes: Annotated[float | None, Query(gt=0, le=1440)] = None,
) -> CoverageSummary:
    """Return the rows of the ``summary`` table that match every filter given."""
    rows = table.select(
        scope=scope, scope_id=scope_id, facility_type=facility_type, minutes=minutes
    )
    return CoverageSummary.model_validate({"rows": rows})
