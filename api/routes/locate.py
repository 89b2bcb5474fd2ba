"""``GET /v1/locate`` (one point) and ``POST /v1/locate`` (a batch): which grid holds a point.

Both answer from the plan in memory; the single lookup answers with JSON bytes
prepared when the plan was loaded, so it costs a few microseconds next to the
framework. A batch body is parsed by pydantic-core straight from the JSON bytes
(about 3x faster than ``json.loads`` + validation); a large batch is parsed,
located and serialised in a worker thread so single lookups keep flowing.

``crs`` is case-insensitive and takes ``EPSG:4326`` / ``EPSG:4490`` too
(:func:`api.schemas.crs_name`). A batch names its plan by ``?plan_id=`` or by
``plan_id`` in the body, and its coordinate system by ``?crs=`` or by ``crs`` in
the body; both at once must agree.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from api.deps import PlanIdQuery, get_plan, refuse_repeated_query
from api.schemas import (
    CRS_HELP,
    Crs,
    CrsName,
    ErrorOut,
    Lat,
    LocateBatchIn,
    LocateBatchOut,
    Location,
    Lon,
    crs_name,
)
from gridder.errors import NotFoundError
from gridder.plan import Plan

__all__ = ["router"]

router = APIRouter(prefix="/locate", tags=["lookup"])

JSON = "application/json"
_THREAD_BYTES = 32 * 1024  # bodies above this are handled off the event loop


class _Query(BaseModel):
    lon: Lon
    lat: Lat
    crs: Annotated[Crs, BeforeValidator(crs_name)] = Crs.wgs84
    plan_id: Annotated[str | None, Field(min_length=1, max_length=200)] = None


_QUERY_DOCS: list[dict[str, Any]] = [
    {
        "name": "lon",
        "in": "query",
        "required": True,
        "schema": {"type": "number", "minimum": -180, "maximum": 180},
        "example": 118.7801,
    },
    {
        "name": "lat",
        "in": "query",
        "required": True,
        "schema": {"type": "number", "minimum": -90, "maximum": 90},
        "example": 32.0412,
    },
    {
        "name": "crs",
        "in": "query",
        "required": False,
        "description": CRS_HELP,
        "schema": {"type": "string", "enum": [c.value for c in Crs], "default": "wgs84"},
    },
    {
        "name": "plan_id",
        "in": "query",
        "required": False,
        "description": "Ask this stored plan instead of the active one.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
]


@router.get(
    "",
    response_model=Location,
    responses={
        404: {"model": ErrorOut, "description": "No grid contains the point"},
        422: {
            "model": ErrorOut,
            "description": "Bad coordinates (out of range, not finite) or coordinate system, "
            "or a query parameter given twice",
        },
    },
    openapi_extra={"parameters": _QUERY_DOCS},
    summary="Which grid holds a point",
)
async def locate_point(request: Request) -> Response:
    """Return the grid (and community) whose polygon covers the point.

    On a boundary shared by grids, the grid with the smallest ``grid_id`` wins.
    """
    # The query is validated here by one pydantic model instead of FastAPI's
    # per-parameter machinery: this is the hot path, and it halves the overhead.
    refuse_repeated_query(request)
    try:
        q = _Query.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for error in errors:
            error["loc"] = ("query", *error["loc"])
        raise RequestValidationError(errors) from None
    plan = request.app.state.store.loaded(q.plan_id) or await get_plan(request, q.plan_id)
    row = plan.locate_index(q.lon, q.lat, crs=q.crs.value)
    if row < 0:
        msg = (
            f"no grid of plan {plan.plan_id} contains the point ({q.lon}, {q.lat}) [{q.crs.value}]"
        )
        raise NotFoundError(msg)
    return Response(plan.location_json(row), media_type=JSON)


def _parse(body: bytes, limit: int) -> LocateBatchIn:
    try:
        batch = LocateBatchIn.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from None
    if len(batch.points) > limit:
        raise HTTPException(
            413,
            f"too many points: {len(batch.points)} > the batch limit {limit}; split the request",
        )
    return batch


def _answer(plan: Plan, batch: LocateBatchIn, crs: str) -> bytes:
    points = np.asarray(batch.points, dtype=np.float64).reshape(-1, 2)
    rows = plan.locate_indices(points, crs=crs)
    return b'{"results":' + plan.results_json(rows) + b',"plan_id":' + plan.plan_id_json + b"}"


def _plan_id(query: str | None, body: str | None) -> str | None:
    """The plan a batch asks: ``?plan_id=`` or the body's ``plan_id``, which must agree."""
    if query is not None and body is not None and query != body:
        msg = (
            f"plan_id {body!r} in the body differs from plan_id {query!r} in the query; "
            "give it once, or the same in both"
        )
        raise RequestValidationError(
            [{"loc": ("body", "plan_id"), "msg": msg, "type": "value_error"}]
        )
    return query if query is not None else body


def _frame(name: str) -> str:
    """The frame a system's coordinates are read in: CGCS2000 is taken as WGS84."""
    return "wgs84" if name == "cgcs2000" else name


def _crs(query: str | None, batch: LocateBatchIn) -> str:
    """The coordinate system of a batch: ``?crs=`` or the body's ``crs``, which must agree.

    Both are normalised first (``GCJ02`` and ``gcj-02`` agree; CGCS2000 and WGS84
    agree, as CGCS2000 is read as WGS84). The body's
    ``crs`` counts only when the body gives it; without either, WGS84.

    Raises
    ------
    RequestValidationError
        When ``?crs=`` differs from the body's ``crs``.
    """
    if query is None:
        return batch.crs
    if "crs" in batch.model_fields_set and _frame(batch.crs) != _frame(query):
        msg = (
            f"crs {batch.crs!r} in the body differs from crs {query!r} in the query; "
            "give it once, or the same in both"
        )
        raise RequestValidationError([{"loc": ("body", "crs"), "msg": msg, "type": "value_error"}])
    return query


# Documented as the enum of canonical names (what the validator accepts once
# normalised: case, "-", "_", ":" and spaces ignored; EPSG:4326 and EPSG:4490 too).
CrsQuery = Annotated[
    CrsName | None,
    Query(
        description=f"{CRS_HELP} Instead of `crs` in the body; when both are given they "
        "must agree.",
        examples=["gcj02"],
    ),
]

_BATCH_SCHEMA: dict[str, Any] = LocateBatchIn.model_json_schema(
    ref_template="#/components/schemas/{model}"
)


@router.post(
    "",
    response_model=LocateBatchOut,
    responses={
        404: {"model": ErrorOut, "description": "No such plan"},
        413: {"model": ErrorOut, "description": "More points than the batch limit"},
        415: {"model": ErrorOut, "description": "A compressed body (Content-Encoding)"},
        422: {
            "model": ErrorOut,
            "description": "Malformed body, coordinates out of range or not finite, an unknown "
            "crs, two different plan ids or crs, or a query parameter given twice",
        },
    },
    openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": _BATCH_SCHEMA}}}},
    summary="Which grid holds each of many points",
)
async def locate_points(
    request: Request, plan_id: PlanIdQuery = None, crs: CrsQuery = None
) -> Response:
    """One answer per point, in input order: the grid, or ``null`` outside every grid.

    Body: ``{"points": [[lon, lat], ...], "crs": "wgs84"}`` with at most the
    server's batch limit of points (default 100,000), and optionally the
    ``plan_id`` to ask (as ``?plan_id=``; if both are given they must agree).
    The coordinate system may be given as ``?crs=`` instead; if both are given
    they must agree.
    """
    refuse_repeated_query(request)
    body = await request.body()
    limit: int = request.app.state.settings.batch_limit
    large = len(body) > _THREAD_BYTES
    if large:
        batch = await anyio.to_thread.run_sync(_parse, body, limit)
    else:
        batch = _parse(body, limit)
    system = _crs(crs, batch)
    wanted = _plan_id(plan_id, batch.plan_id)
    plan = request.app.state.store.loaded(wanted) or await get_plan(request, wanted)
    if large:
        content = await anyio.to_thread.run_sync(_answer, plan, batch, system)
    else:
        content = _answer(plan, batch, system)
    return Response(content, media_type=JSON)
