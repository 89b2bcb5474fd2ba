"""The grid service: a thin FastAPI layer over :class:`gridder.plan.Plan` and the plan store.

:func:`create_app` builds the app from :class:`~api.settings.ApiSettings`
(``gridder serve`` runs it with uvicorn). Errors always answer JSON
``{"detail": ...}``: ``NotFoundError`` → 404, ``InputError`` → 422, a body too
large → 413, a compressed body → 415, other ``GridderError`` → 400, request
validation (a query parameter given twice too) → 422, a method the path does
not take → 405 whose ``Allow`` names every method of the path, and anything
unexpected → 500 with no traceback (it is logged). Every ``GET`` answers
``HEAD`` (:mod:`api.routing`); when reads need a key, the static ``/maps/`` and
``/demo/`` need it too (:mod:`api.static`).

Examples
--------
>>> from api.main import create_app
>>> from api.settings import ApiSettings
>>> app = create_app(ApiSettings(plans_dir="plans/"))  # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.coverage import CoverageTable
from api.deps import require_read_key, single_valued_query
from api.jobs import JobManager
from api.middleware import BodySizeLimit, BodyTooLargeError
from api.routes import buildings, coverage, edits, grids, health, jobs, locate, plans
from api.routing import add_head_routes, allowed_methods
from api.schemas import ErrorOut
from api.settings import ApiSettings, get_settings
from api.static import KeyedStatic, KeyGate
from gridder import __version__
from gridder.errors import GridderError, InfeasibleError, InputError, NotFoundError
from gridder.plan_store import PlanStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)

DESCRIPTION = """\
Which grid (网格) — and so which grid worker — is responsible for a point or a
building, over versioned plans. Coordinates in WGS84, CGCS2000, GCJ-02 (Amap,
Tencent) or BD-09 (Baidu). A point on a boundary shared by several grids belongs
to the grid with the smallest `grid_id`. Every lookup takes `?plan_id=` to ask a
stored plan other than the active one; the coverage summary answers only for the
plan its coverage file was made for. Writes need an `X-API-Key`; on a server
started with `GRIDDER_READ_REQUIRES_KEY=true` reads need it too (401 without, 403
wrong), and so do `/maps/` and `/demo/` (a browser opens them once with `?key=`).
Every `GET` answers `HEAD`; a query parameter given twice is a 422.
"""


def _status_of(exc: GridderError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, BodyTooLargeError):
        return 413
    if isinstance(exc, InputError | InfeasibleError):
        return 422
    return 400


async def _gridder_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GridderError)
    detail: Any = str(exc)
    if isinstance(exc, InputError) and len(exc.problems) > 1:
        detail = [str(p) for p in exc.problems]
    return JSONResponse({"detail": detail}, status_code=_status_of(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        item = {k: error[k] for k in ("loc", "msg", "type") if k in error}
        if "ctx" in error:
            item["ctx"] = {k: str(v) for k, v in error["ctx"].items()}
        errors.append(item)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer to an ``HTTPException``; a 405's ``Allow`` names every method of the path.

    Starlette's router names only the methods of the first route of the path
    (``GET`` for ``/v1/locate``, which takes ``POST`` too).
    """
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        if allowed:
            headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
            exc = StarletteHTTPException(405, detail=exc.detail, headers=headers)
    return await http_exception_handler(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal error: the server could not answer; see its log"}, status_code=500
    )


def _open_store(settings: ApiSettings) -> PlanStore:
    files = [settings.plan_file] if settings.plan_file is not None else []
    if settings.plans_dir is not None:
        settings.plans_dir.mkdir(parents=True, exist_ok=True)
    return PlanStore(settings.plans_dir, files=files, active=settings.plan_file)


def _check_coverage(table: CoverageTable, store: PlanStore) -> None:
    """Warn at start-up when the coverage names no plan, or a plan the store does not hold."""
    known = [info.plan_id for info in store.plans()]
    if table.plan_id is None:
        log.warning(
            "coverage %s names no plan (no plan_id in coverage_meta): its summary is served "
            "for every plan; recompute it with gridder coverage to tie it to its plan",
            table.source,
        )
    elif table.plan_id not in known:
        log.warning(
            "coverage %s was made for plan %r, which is not among the loaded plans (%s): "
            "/v1/coverage/summary answers 404 until that plan is stored",
            table.source,
            table.plan_id,
            ", ".join(known) or "none",
        )


def _plan_callback(store: PlanStore) -> Any:
    """What a finished job does with its plan: check its id is new, activate it when asked.

    The first plan of a store without an active plan (an empty ``--plans``
    directory at start) becomes active even when the job did not ask: else the
    server would answer every lookup 404 until someone activates it.
    """

    def on_plan(plan_id: str, path: Path, activate: bool) -> bool:
        store.refresh()
        info = store.info(plan_id)
        if info.path != path:
            path.unlink(missing_ok=True)
            msg = f"plan id {plan_id!r} already exists in the store ({info.path.name})"
            raise GridderError(msg)
        activate = activate or store.active_id is None
        if activate:
            store.activate(plan_id)
        return activate

    return on_plan


async def _refresh_forever(store: PlanStore, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await anyio.to_thread.run_sync(store.refresh)
        except Exception:  # the refresher must survive a bad file
            log.exception("refreshing the plan store failed")


def _offline_docs(app: FastAPI) -> None:
    """Interactive docs at ``/docs`` that load nothing from the internet.

    FastAPI's default page loads Swagger UI from a CDN, which an offline
    intranet cannot reach; the same files come from PyPI (``swagger-ui-bundle-v2``)
    and are served at ``/docs/assets/``, as the maps serve Leaflet's.
    """
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI over ``/openapi.json``, every script and style from this server."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the API over the plans, coverage and maps that ``settings`` name.

    Parameters
    ----------
    settings
        The configuration; by default read from ``GRIDDER_*`` environment variables.

    Raises
    ------
    NotFoundError
        When a configured file or directory does not exist.
    InputError
        When a plan or coverage file cannot be read.
    """
    settings = settings if settings is not None else get_settings()
    for name in ("maps_dir", "demo_dir"):
        folder = getattr(settings, name)
        if folder is not None and not Path(folder).is_dir():
            msg = f"{folder}: no such directory ({name})"
            raise NotFoundError(msg)
    store = _open_store(settings)
    table = CoverageTable.open(settings.coverage_file) if settings.coverage_file else None
    if table is not None:
        _check_coverage(table, store)
    manager = JobManager(
        plans_dir=settings.plans_dir,
        work_dir=settings.jobs_dir,
        runner=settings.partition_runner,
        executor=settings.job_executor,
        on_plan=_plan_callback(store),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if settings.refresh_seconds > 0:
            task = asyncio.create_task(_refresh_forever(store, settings.refresh_seconds))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            manager.shutdown()

    app = FastAPI(
        title="gridder grid service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own copy of Swagger UI
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.coverage = table
    app.state.jobs = manager

    # the key first (a request without one is 401 whatever else is wrong), then the query
    # (the locate routes check it inline: a dependency costs the hot path a fifth)
    deps = [Depends(require_read_key)] if settings.read_requires_key else []
    closed: dict[int | str, dict[str, Any]] = {}
    if settings.read_requires_key:
        closed = {
            401: {"model": ErrorOut, "description": "No API key (reads need one on this server)"},
            403: {"model": ErrorOut, "description": "Wrong API key, or no key configured"},
        }
    app.include_router(health.router)
    for module in (locate, buildings, grids, coverage, plans, jobs, edits):
        router = add_head_routes(module.router)  # HEAD wherever GET works (idempotent)
        checks = deps if module is locate else [*deps, Depends(single_valued_query)]
        app.include_router(router, prefix="/v1", dependencies=checks, responses=closed)

    app.add_exception_handler(GridderError, _gridder_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    home = "/maps/" if settings.maps_dir is not None else "/docs"

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """The address ``make run`` prints: the maps when served, else the API's docs."""
        return RedirectResponse(home)

    _offline_docs(app)
    add_head_routes(app.router)
    # the maps and the demo's files are reads: behind the key when reads need one
    gate = KeyGate(settings.api_key_hashes) if settings.read_requires_key else None
    for prefix, folder in (("/maps", settings.maps_dir), ("/demo", settings.demo_dir)):
        if folder is not None:
            files: Any = StaticFiles(directory=folder, html=True)
            if gate is not None:
                files = KeyedStatic(files, gate=gate)
            app.mount(prefix, files, name=prefix.strip("/"))

    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.max_upload_bytes,
        upload_paths=frozenset({"/v1/plans"}),
    )
    return app
