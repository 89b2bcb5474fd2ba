"""``GET /v1/coverage/summary``: the coverage summary rows of the served coverage file.

The rows answer only for the plan the coverage file was made for (its
``coverage_meta.plan_id``): the active plan, or the one ``?plan_id=`` names.
A ``scope_id`` that neither the coverage rows nor the plan know (a grid or
community of no row and not in the plan) answers 404, as unknown grids and
communities do on the other lookups.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.coverage import CoverageTable
from api.deps import CoverageDep, PlanIdDep, get_plan
from api.schemas import CoverageSummary, ErrorOut
from gridder.errors import NotFoundError
from gridder.plan import Plan

__all__ = ["router"]

router = APIRouter(prefix="/coverage", tags=["coverage"])

Scope = Literal["all", "community", "grid"]


def _plan_knows(plan: Plan, scope: str, scope_id: str) -> bool:
    """Whether ``scope_id`` is a grid (``scope="grid"``) or community of ``plan``."""
    if scope == "community":
        return scope_id in plan.community_ids_known()
    if scope == "grid":
        try:
            plan.grid_json(scope_id)
        except NotFoundError:
            return False
        return True
    return False


async def _check_scope_id(
    request: Request, table: CoverageTable, plan_id: str, scope: Scope | None, scope_id: str
) -> None:
    """Refuse a ``scope_id`` that neither the coverage rows nor the plan know.

    Raises
    ------
    NotFoundError
        When no row of ``scope`` (of any scope when ``None``) has the id and the
        plan has no such grid or community either.
    """
    if table.has_scope_id(scope_id, scope):
        return
    plan = await get_plan(request, plan_id)
    scopes = ["community", "grid"] if scope is None else [scope]
    if any(_plan_knows(plan, s, scope_id) for s in scopes):
        return
    if scope is None:
        msg = (
            f"scope_id {scope_id!r} is not a grid or community of plan {plan_id}, "
            "nor a scope_id of the coverage summary"
        )
    elif scope == "all":
        known = ", ".join(repr(i) for i in sorted(table.scope_ids.get("all", ()))) or "none"
        msg = f"scope 'all' has no scope_id {scope_id!r} (the coverage summary has {known})"
    else:
        msg = f"{scope} {scope_id!r} is not in plan {plan_id} (scope={scope}, scope_id={scope_id})"
    raise NotFoundError(msg)


@router.get(
    "/summary",
    response_model=CoverageSummary,
    responses={
        404: {
            "model": ErrorOut,
            "description": "No such plan, no such grid or community (scope_id), "
            "no coverage file on this server, or the coverage file was made for another plan",
        }
    },
    summary="Share of households within walking reach, by scope and facility type",
)
async def read_coverage_summary(
    request: Request,
    plan_id: PlanIdDep,
    table: CoverageDep,
    *,
    scope: Annotated[Scope | None, Query()] = None,
    scope_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    facility_type: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    minutes: Annotated[float | None, Query(gt=0, le=1440, allow_inf_nan=False)] = None,
) -> CoverageSummary:
    """Return the rows of the ``summary`` table that match every filter given.

    Only for the plan the coverage was computed for; another plan answers 404,
    and so does a ``scope_id`` that is no grid or community of the plan (nor in
    the coverage rows).
    """
    digest = None
    if table.digest is not None and table.plan_id == plan_id:  # edited since? load to see
        plan = await get_plan(request, plan_id)
        digest = plan.assignment_digest
    table = table.for_plan(plan_id, digest)
    if scope_id is not None:
        await _check_scope_id(request, table, plan_id, scope, scope_id)
    rows = table.select(
        scope=scope, scope_id=scope_id, facility_type=facility_type, minutes=minutes
    )
    return CoverageSummary.model_validate({"rows": rows})
