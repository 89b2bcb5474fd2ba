"""Dependencies of the routes: the plan store, the plan a request asks, API keys."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Header, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError

from api.coverage import CoverageTable
from api.jobs import JobManager
from api.settings import ApiSettings
from gridder.errors import NotFoundError
from gridder.plan import Plan
from gridder.plan_store import PlanStore

__all__ = [
    "CoverageDep",
    "JobsDep",
    "PlanDep",
    "PlanIdDep",
    "PlanIdQuery",
    "SettingsDep",
    "StoreDep",
    "WriteKeyDep",
    "get_plan",
    "get_plan_id",
    "key_matches",
    "refuse_repeated_query",
    "require_read_key",
    "require_write_key",
    "single_valued_query",
]

PlanIdQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="Ask this stored plan instead of the active one.",
        examples=["2024-06"],
    ),
]


def get_settings(request: Request) -> ApiSettings:
    """Return the app's settings."""
    settings: ApiSettings = request.app.state.settings
    return settings


def get_store(request: Request) -> PlanStore:
    """Return the app's plan store."""
    store: PlanStore = request.app.state.store
    return store


def get_jobs(request: Request) -> JobManager:
    """Return the app's job manager."""
    jobs: JobManager = request.app.state.jobs
    return jobs


def get_coverage(request: Request) -> CoverageTable:
    """Return the coverage summary, or 404 when the server has none."""
    table: CoverageTable | None = request.app.state.coverage
    if table is None:
        msg = "no coverage file is configured on this server (gridder serve --coverage FILE)"
        raise NotFoundError(msg)
    return table


async def get_plan(request: Request, plan_id: PlanIdQuery = None) -> Plan:
    """Return the plan a request asks for: ``?plan_id=`` or the active one.

    A plan already in memory is returned at once; another one is loaded in a
    worker thread so the event loop never blocks on file I/O.
    """
    store: PlanStore = request.app.state.store
    plan = store.loaded(plan_id)
    if plan is None:
        plan = await anyio.to_thread.run_sync(store.get, plan_id)
    return plan


async def get_plan_id(request: Request, plan_id: PlanIdQuery = None) -> str:
    """Return the id of the plan a request asks for, without loading the plan.

    Raises
    ------
    NotFoundError
        When the store has no such plan (or, without ``?plan_id=``, no plan at all).
    """
    store: PlanStore = request.app.state.store
    if plan_id is None:
        return store.active.plan_id
    if store.loaded(plan_id) is None:
        await anyio.to_thread.run_sync(store.info, plan_id)  # may rescan the directory
    return plan_id


def key_matches(key: str, hashes: list[str]) -> bool:
    """Whether ``key`` hashes to one of ``hashes``, comparing every one in constant time."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    found = False
    for expected in hashes:
        found |= hmac.compare_digest(digest, expected)
    return found


def _check_key(hashes: list[str], key: str | None, action: str) -> None:
    if not hashes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{action} are disabled: no API key is configured on this server",
        )
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"{action} need an API key in the X-API-Key header",
            headers={"WWW-Authenticate": "X-API-Key"},
        )
    if not key_matches(key, hashes):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the API key is not valid")


ApiKeyHeader = Annotated[
    str | None, Header(alias="X-API-Key", description="API key (writes; reads when configured)")
]


async def require_write_key(request: Request, x_api_key: ApiKeyHeader = None) -> None:
    """Refuse a write without a valid ``X-API-Key`` (401 missing, 403 wrong or none configured)."""
    _check_key(request.app.state.settings.api_key_hashes, x_api_key, "writes")


async def require_read_key(request: Request, x_api_key: ApiKeyHeader = None) -> None:
    """Refuse a read without a valid key, when the server is configured to."""
    _check_key(request.app.state.settings.api_key_hashes, x_api_key, "reads")


def refuse_repeated_query(request: Request) -> None:
    """Refuse a query parameter given more than once (422 naming it).

    Every query parameter of this API takes one value; without this check the
    last one would silently win (``?lon=24.9&lat=60.1&lon=0``).

    Raises
    ------
    RequestValidationError
        Naming the first repeated parameter.
    """
    query = request.query_params
    items = query.multi_items()
    if len(items) == len(query):  # the usual case: every name once
        return
    seen: set[str] = set()
    for name, _ in items:
        if name in seen:
            msg = f"{name} is given more than once in the query; give it once"
            raise RequestValidationError(
                [{"loc": ("query", name), "msg": msg, "type": "value_error"}]
            )
        seen.add(name)


async def single_valued_query(request: Request) -> None:
    """Dependency form of :func:`refuse_repeated_query` (every ``/v1`` router has it)."""
    refuse_repeated_query(request)


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
StoreDep = Annotated[PlanStore, Depends(get_store)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]
CoverageDep = Annotated[CoverageTable, Depends(get_coverage)]
PlanDep = Annotated[Plan, Depends(get_plan)]
PlanIdDep = Annotated[str, Depends(get_plan_id)]
WriteKeyDep = Annotated[None, Depends(require_write_key)]
