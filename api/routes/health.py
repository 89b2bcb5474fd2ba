"""``GET /health``: liveness, and which plan is active."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import StoreDep
from api.schemas import Health

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Is the service up")
async def read_health(store: StoreDep) -> Health:
    """Answer ``{"status": "ok"}`` (and the active plan's id) while the server runs."""
    return Health(status="ok", active_plan=store.active_id)


@router.head("/health", include_in_schema=False)
async def head_health() -> Response:
    """Answer 200 with no body, for probes that ask with ``HEAD``."""
    return Response(status_code=200, media_type="application/json")
