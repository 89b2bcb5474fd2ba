"""``GET /v1/coverage/summary``: the coverage summary rows of the served coverage file.

The rows answer only for the plan the coverage file was made for (its
``coverage_meta.plan_id``): the active plan, or the one ``?plan_id=`` names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.deps import CoverageDep, PlanIdDep, get_plan
from api.schemas import CoverageSummary, ErrorOut

__all__ = ["router"]

router = APIRouter(prefix="/coverage", tags=["coverage"])


@router.get(
    "/summary",
    response_model=CoverageSummary,
    responses={
        404: {
            "model": ErrorOut,
            "description": "No such plan, no coverage file on this server, "
            "or the coverage file was made for another plan",
        }
    },
    summary="Share of households within walking reach, by scope and facility type",
)
async def read_coverage_summary(
    request: Request,
    plan_id: PlanIdDep,
    table: CoverageDep,
    *,
    scope: Annotated[Literal["all", "community", "grid"] | None, Query()] = None,
    scope_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    facility_type: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    minutes: Annotated[float | None, Query(gt=0, le=1440)] = None,
) -> CoverageSummary:
    """Return the rows of the ``summary`` table that match every filter given.

    Only for the plan the coverage was computed for; another plan answers 404.
    """
    digest = None
    if table.digest is not None and table.plan_id == plan_id:  # edited since? load to see
        plan = await get_plan(request, plan_id)
        digest = plan.assignment_digest
    rows = table.for_plan(plan_id, digest).select(
        scope=scope, scope_id=scope_id, facility_type=facility_type, minutes=minutes
    )
    return CoverageSummary.model_validate({"rows": rows})
