"""``/v1/plans``: stored plan versions, which one is active, and new plans from partition jobs."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from api.deps import JobsDep, SettingsDep, StoreDep, WriteKeyDep
from api.schemas import ErrorOut, Job, PartitionParams, PlanCreate, PlanDetail, PlanList
from gridder.errors import NotFoundError
from gridder.plan_store import PlanInfo, PlanStore

__all__ = ["router"]

router = APIRouter(prefix="/plans", tags=["plans"])

PlanIdPath = Annotated[str, Path(min_length=1, max_length=200, examples=["2024-06"])]
UPLOAD_SUFFIXES = (".osm.pbf", ".geojson", ".json", ".gpkg", ".zip", ".csv", ".xlsx")
INPUTS = ("communities", "buildings", "streets", "compounds")
FORM_FIELDS = (*INPUTS, "barriers", "params", "activate")
PARAMS_MAX_BYTES = 1024 * 1024  # Starlette's limit of a text part
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def _summary(info: PlanInfo, active_id: str | None) -> dict[str, Any]:
    return {
        "plan_id": info.plan_id,
        "file": info.path.name,
        "created": info.created,
        "parameters": info.parameters,
        "seed": info.meta.get("seed"),
        "active": info.plan_id == active_id,
    }


@router.get("", response_model=PlanList, summary="The stored plans; which one is active")
async def read_plans(store: StoreDep) -> PlanList:
    """Every plan in the store (new files are picked up), oldest first."""
    await anyio.to_thread.run_sync(store.refresh)
    active = store.active_id
    return PlanList.model_validate(
        {"active_plan_id": active, "plans": [_summary(i, active) for i in store.plans()]}
    )


@router.get(
    "/{plan_id}",
    response_model=PlanDetail,
    responses={404: {"model": ErrorOut, "description": "No such plan"}},
    summary="One stored plan and its metadata",
)
async def read_plan(store: StoreDep, plan_id: PlanIdPath) -> PlanDetail:
    """Return the plan's id, file, creation time, parameters and whole ``plan_meta``."""
    info = await anyio.to_thread.run_sync(store.info, plan_id)
    return PlanDetail.model_validate({**_summary(info, store.active_id), "meta": info.meta})


@router.post(
    "/{plan_id}/activate",
    response_model=PlanDetail,
    responses={
        401: {"model": ErrorOut, "description": "No API key"},
        403: {"model": ErrorOut, "description": "Wrong API key, or writes disabled"},
        404: {"model": ErrorOut, "description": "No such plan"},
    },
    summary="Make a plan the active one (atomic switch)",
)
async def activate_plan(store: StoreDep, plan_id: PlanIdPath, _key: WriteKeyDep) -> PlanDetail:
    """Load the plan, then swap it in: requests in flight finish on the previous plan."""
    plan = await anyio.to_thread.run_sync(store.activate, plan_id)
    info = store.info(plan.plan_id)
    return PlanDetail.model_validate({**_summary(info, store.active_id), "meta": info.meta})


def _validation(field: str, message: str) -> RequestValidationError:
    loc = ("body", *field.split("."))
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def _existing(field: str, value: str, roots: list[FilePath]) -> str:
    """Check a referenced input path: it exists (``file.gpkg:layer`` allowed), under a root."""
    path = FilePath(value)
    if not path.exists() and ":" in value:
        path = FilePath(value.rsplit(":", 1)[0])
    if not path.exists():
        raise _validation(field, f"{value}: no such file on the server")
    if path.is_dir():
        raise _validation(field, f"{value}: a directory, not a file")
    if roots and not any(path.resolve().is_relative_to(r.resolve()) for r in roots):
        raise _validation(field, f"{value}: not under an allowed input directory")
    return value


def _save_upload(field: str, upload: UploadFile, workdir: FilePath) -> str:
    name = (upload.filename or "").lower()
    suffix = next((s for s in UPLOAD_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise _validation(field, f"upload {upload.filename!r}: expected one of {UPLOAD_SUFFIXES}")
    target = workdir / f"{field}{suffix}"
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    return str(target)


def _form_bool(field: str, item: UploadFile | str | None, default: bool) -> bool:
    """A boolean form field: ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``.

    Case and surrounding spaces are ignored; an absent field is ``default``.

    Raises
    ------
    RequestValidationError
        For any other value (an empty one too), or a file sent in its place.
    """
    if item is None:
        return default
    if isinstance(item, UploadFile):
        raise _validation(field, "a file was sent; expected a boolean value (true or false)")
    word = item.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    accepted = "true/false, 1/0, yes/no or on/off"
    raise _validation(field, f"{item!r} is not a boolean: {field} takes {accepted}")


def _params_text(item: UploadFile | str | None) -> str:
    """The JSON text of the ``params`` part: a text field, or a file part (``-F params=@p.json``).

    Raises
    ------
    RequestValidationError
        When a file part is not UTF-8 text, or larger than a text part may be (1 MiB).
    """
    if item is None:
        return "{}"
    if isinstance(item, str):
        return item or "{}"
    raw = item.file.read(PARAMS_MAX_BYTES + 1)
    if len(raw) > PARAMS_MAX_BYTES:
        msg = f"file {item.filename!r}: params larger than {PARAMS_MAX_BYTES} bytes"
        raise _validation("params", msg)
    try:
        text = raw.decode("utf-8-sig")  # a BOM, as Windows editors write it, is fine
    except UnicodeDecodeError as exc:
        msg = f"file {item.filename!r} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise _validation("params", msg) from None
    return text if text.strip() else "{}"


async def _read_form(request: Request) -> FormData:
    """Parse the multipart body; a malformed one is a 422 (Starlette answers 400).

    Raises
    ------
    RequestValidationError
        With Starlette's reason: missing boundary, invalid multipart data, too
        many fields or files, a part too large.
    """
    try:
        return await request.form(max_files=len(INPUTS) + 1, max_fields=8)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        msg = f"not a valid multipart/form-data body: {exc.detail}"
        raise RequestValidationError(
            [{"loc": ("body",), "msg": msg, "type": "value_error"}]
        ) from None


async def _from_multipart(
    request: Request, workdir: FilePath, uploads: dict[str, str]
) -> tuple[dict[str, str | None], PartitionParams, bool]:
    """The inputs, options and ``activate`` of a multipart request; uploads saved in ``workdir``.

    ``uploads`` receives, for each uploaded part, the input kind → the client's
    file name (``barriers`` too).
    """
    form = await _read_form(request)
    try:
        for key in sorted(set(form.keys())):
            if key not in FORM_FIELDS:
                fields = ", ".join(FORM_FIELDS)
                raise _validation(key, f"not a field of this form (fields: {fields})")
            if len(form.getlist(key)) > 1:
                raise _validation(key, "given more than once")
        paths: dict[str, str | None] = {}
        for field in INPUTS:
            item = form.get(field)
            if isinstance(item, UploadFile):
                paths[field] = await anyio.to_thread.run_sync(_save_upload, field, item, workdir)
                uploads[field] = str(item.filename or field)
            elif isinstance(item, str) and item:
                paths[field] = item  # a referenced path, checked below
            else:
                paths[field] = None
        raw_params = await anyio.to_thread.run_sync(_params_text, form.get("params"))
        params = PartitionParams.model_validate_json(raw_params)
        activate = _form_bool("activate", form.get("activate"), default=False)
        barriers = form.get("barriers")
        if isinstance(barriers, UploadFile):  # rivers/rail uploaded: params.barriers is that file
            if params.barriers is not None:
                raise _validation("barriers", "uploaded and given in params: give one")
            path = await anyio.to_thread.run_sync(_save_upload, "barriers", barriers, workdir)
            params = params.model_copy(update={"barriers": path})
            uploads["barriers"] = str(barriers.filename or "barriers")
        elif isinstance(barriers, str) and barriers:
            raise _validation("barriers", "upload a file, or name a server path in params")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for error in errors:
            error["loc"] = ("body", "params", *error["loc"])
        raise RequestValidationError(errors) from None
    finally:
        await form.close()
    return paths, params, activate


async def _from_json(request: Request) -> tuple[dict[str, str | None], PartitionParams, bool]:
    try:
        spec = PlanCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from None
    paths = {field: getattr(spec, field) for field in INPUTS}
    return paths, spec.params, spec.activate


def _previous_plan(store: PlanStore, params: PartitionParams, workdir: FilePath) -> str | None:
    """A copy of the stored plan a re-plan starts from, in the job's directory (``None``: none).

    The copy keeps the job's input fixed while the store changes. Grid ids to
    lock are checked against the plan here, so that a typo is a 422, not a
    failed job.
    """
    if params.previous_plan_id is None:
        return None
    try:
        info = store.info(params.previous_plan_id)
    except NotFoundError as exc:
        raise _validation("params.previous_plan_id", str(exc)) from None
    if params.locked_grids:
        ids = params.locked_grids
        known = set(map(str, store.get(info.plan_id).grid_ids))
        unknown = sorted(set(ids) - known)
        if unknown:
            shown = ", ".join(unknown[:10])
            msg = f"not grids of plan {info.plan_id!r}: {shown}"
            raise _validation("params.locked_grids", msg)
        twice = sorted({g for g in ids if ids.count(g) > 1})
        if twice:
            raise _validation("params.locked_grids", f"listed twice: {', '.join(twice[:10])}")
    target = workdir / "previous.gpkg"
    shutil.copyfile(info.path, target)
    return str(target)


_CREATE_SCHEMA = PlanCreate.model_json_schema(ref_template="#/components/schemas/{model}")
_PARAMS_SCHEMA = _CREATE_SCHEMA.pop("$defs", {}).get("PartitionParams", {"type": "object"})
_CREATE_SCHEMA["properties"]["params"] = _PARAMS_SCHEMA


@router.post(
    "",
    response_model=Job,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        401: {"model": ErrorOut, "description": "No API key"},
        403: {"model": ErrorOut, "description": "Wrong API key, or writes disabled"},
        413: {"model": ErrorOut, "description": "Upload too large"},
        415: {"model": ErrorOut, "description": "A compressed body (Content-Encoding)"},
        422: {
            "model": ErrorOut,
            "description": "Missing or bad inputs or parameters, or a malformed multipart body "
            "(no boundary, invalid data, too many parts, a part too large)",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _CREATE_SCHEMA},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["communities", "buildings"],
                        "properties": {
                            "communities": {"type": "string", "format": "binary"},
                            "buildings": {"type": "string", "format": "binary"},
                            "streets": {"type": "string", "format": "binary"},
                            "compounds": {"type": "string", "format": "binary"},
                            "barriers": {
                                "type": "string",
                                "format": "binary",
                                "description": "rivers/rail (lines or areas), as --barriers",
                            },
                            "params": {
                                "type": "string",
                                "description": "Partition options as JSON: a text part, or a "
                                "file part (`-F params=@params.json`, UTF-8)",
                                "example": '{"target": 250, "min": 200, "max": 300}',
                            },
                            "activate": {"type": "boolean"},
                        },
                    }
                },
            },
        }
    },
    summary="Start a partition job that adds a plan",
)
async def create_plan(
    request: Request,
    response: Response,
    jobs: JobsDep,
    settings: SettingsDep,
    store: StoreDep,
    _key: WriteKeyDep,
) -> Job:
    """Queue a partition job over uploaded (multipart) or referenced (JSON) input files.

    Answers 202 with the job at once; follow it at ``GET /v1/jobs/{job_id}``.
    The new plan lands in the plans directory (activated when ``activate`` is set).
    ``params.previous_plan_id`` re-plans from a stored plan (``--previous``),
    keeping the grids named in ``params.locked_grids`` exactly (``--locked``).
    """
    workdir = await anyio.to_thread.run_sync(jobs.new_workdir)
    try:
        media_type, _ = parse_options_header(request.headers.get("content-type", ""))
        names: dict[str, str] = {}  # input kind -> the uploaded file's own name
        if media_type == b"multipart/form-data":  # parse_options_header lowercases it
            paths, params, activate = await _from_multipart(request, workdir, names)
        else:
            paths, params, activate = await _from_json(request)
        for field in ("communities", "buildings"):
            if not paths[field]:
                raise _validation(field, "required: upload a file or give a server path")
        uploads = str(workdir)
        for field, value in paths.items():
            if value is not None and not value.startswith(uploads):
                _existing(field, value, settings.input_roots)
        barriers = params.barriers
        if barriers not in {None, "major", "none"} and not str(barriers).startswith(uploads):
            _existing("params.barriers", str(barriers), settings.input_roots)
        previous = await anyio.to_thread.run_sync(_previous_plan, store, params, workdir)
        record = jobs.submit(
            communities=str(paths["communities"]),
            buildings=str(paths["buildings"]),
            streets=paths["streets"],
            compounds=paths["compounds"],
            previous=previous,
            params=params.model_dump(exclude_none=True, exclude={"previous_plan_id"}),
            workdir=workdir,
            activate=activate,
            uploads=names,
        )
    except BaseException:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))
        raise
    response.headers["Location"] = f"/v1/jobs/{record.job_id}"
    return Job.model_validate(asdict(record))
