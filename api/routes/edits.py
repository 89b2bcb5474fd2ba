"""``POST /v1/plans/{plan_id}/edits``: a hand edit of a stored plan (behind the write key).

The edit runs :func:`gridder.edit.apply_edit` on the plan's file, in place, in
a worker thread; edits are serialised (one at a time per server). The store
then picks up the changed file, so lookups see the edited plan at once (a
request already holding the previous plan finishes on it). An edit that
breaks a guarantee answers 422 with the reason.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.deps import StoreDep, WriteKeyDep
from api.schemas import ErrorOut
from gridder.edit import apply_edit

__all__ = ["EditIn", "EditOut", "router"]

router = APIRouter(prefix="/plans", tags=["plans"])

PlanIdPath = Annotated[str, Path(min_length=1, max_length=200, examples=["2024-06"])]


class EditIn(BaseModel):
    """One edit: ``move`` + ``to``, or ``lock``, or ``unlock``, or ``undo``."""

    move: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=10_000, description="building ids to move"
    )
    to: str | None = Field(default=None, min_length=1, max_length=200, description="target grid")
    lock: str | None = Field(default=None, min_length=1, max_length=200)
    unlock: str | None = Field(default=None, min_length=1, max_length=200)
    undo: bool = False
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"move": ["B17", "B18"], "to": "C01-004"}, {"undo": True}]},
    )

    @model_validator(mode="after")
    def _one_action(self) -> EditIn:
        chosen = [self.move is not None, self.lock is not None, self.unlock is not None, self.undo]
        if sum(chosen) != 1:
            msg = "give exactly one of: move (with to), lock, unlock, undo"
            raise ValueError(msg)
        if (self.move is None) != (self.to is None):
            msg = "move and to go together"
            raise ValueError(msg)
        if self.move is not None and not self.move:
            msg = "move needs at least one building id"
            raise ValueError(msg)
        return self


class Move(BaseModel):
    """One building moved."""

    building_id: str
    from_grid: str
    to_grid: str
    households: int


class EditOut(BaseModel):
    """What the edit did (see :class:`gridder.edit.EditResult`)."""

    plan_id: str
    action: str
    community_id: str | None
    hand_moves: list[Move]
    rebalance_moves: list[Move]
    hand_households: int
    rebalance_households: int
    changed_grids: list[str]
    removed_grids: list[str]
    out_of_band: list[str]
    quality_before: dict[str, Any]
    quality_after: dict[str, Any]
    notes: list[str]


def _lock(request: Request) -> threading.Lock:
    lock = getattr(request.app.state, "edit_lock", None)
    if lock is None:
        lock = threading.Lock()
        request.app.state.edit_lock = lock
    return lock


_EDIT_SCHEMA: dict[str, Any] = EditIn.model_json_schema(ref_template="#/components/schemas/{model}")


def _parse(body: bytes) -> EditIn:
    """The edit in a request body (read after the key check: no key is a 401, whatever the body)."""
    try:
        return EditIn.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from None


@router.post(
    "/{plan_id}/edits",
    response_model=EditOut,
    responses={
        401: {"model": ErrorOut, "description": "No API key"},
        403: {"model": ErrorOut, "description": "Wrong API key, or writes disabled"},
        404: {"model": ErrorOut, "description": "No such plan"},
        415: {"model": ErrorOut, "description": "A compressed body (Content-Encoding)"},
        422: {
            "model": ErrorOut,
            "description": "A malformed edit, or one that is not possible (the reason says why)",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _EDIT_SCHEMA}},
        }
    },
    summary="Edit a plan by hand: move buildings, lock/unlock a grid, or undo",
)
async def edit_plan(
    request: Request, store: StoreDep, plan_id: PlanIdPath, _key: WriteKeyDep
) -> EditOut:
    """Apply the edit to the plan's file, rebalance the neighbouring grids, record it in history.

    Body: one of ``{"move": [building ids], "to": grid id}``, ``{"lock": grid id}``,
    ``{"unlock": grid id}`` or ``{"undo": true}``.
    """
    body = _parse(await request.body())
    info = await anyio.to_thread.run_sync(store.info, plan_id)
    lock = _lock(request)

    def run() -> dict[str, Any]:
        with lock:
            result = apply_edit(
                info.path,
                move=body.move,
                to=body.to,
                lock=body.lock,
                unlock=body.unlock,
                undo=body.undo,
            )
            store.refresh()
            return result.to_dict()

    out = await anyio.to_thread.run_sync(run)
    out.pop("path", None)
    return EditOut.model_validate({**out, "plan_id": plan_id})
