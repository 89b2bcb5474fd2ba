"""``GET /v1/jobs/{job_id}``: a background job's status, progress and result."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import JobsDep
from api.schemas import ErrorOut, Job

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["plans"])


@router.get(
    "/{job_id}",
    response_model=Job,
    responses={404: {"model": ErrorOut, "description": "No such job"}},
    summary="A partition job's status and result",
)
async def read_job(jobs: JobsDep, job_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Job:
    """``queued``, ``running``, ``done`` (with the new ``plan_id``) or ``failed`` (with why)."""
    return Job.model_validate(asdict(jobs.get(job_id)))
