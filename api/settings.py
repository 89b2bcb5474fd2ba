"""Settings of the grid service, from keyword arguments or ``GRIDDER_*`` environment variables.

Nothing is read at import time: :func:`get_settings` (or ``ApiSettings()``)
builds the settings when the app is created. API keys are never stored: the
settings hold their SHA-256 hex digests (:func:`hash_api_key`), and requests are
checked with a constant-time comparison.

Examples
--------
>>> s = ApiSettings(plans_dir="plans/", api_key_hashes=[hash_api_key("s3cret")])  # doctest: +SKIP
>>> GRIDDER_PLANS_DIR=plans/ GRIDDER_API_KEY_HASHES=ab12...,cd34... gridder serve  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ApiSettings", "get_settings", "hash_api_key"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def hash_api_key(key: str) -> str:
    """Return the SHA-256 hex digest of an API key, as ``api_key_hashes`` expects it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _split(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [v.strip() for v in text.split(",") if v.strip()]
    return value


class ApiSettings(BaseSettings):
    """Configuration of the API (environment prefix ``GRIDDER_``).

    Parameters
    ----------
    plans_dir
        Directory of plan GeoPackages (the plan store); new plans are written here.
    plan_file
        A single plan file to serve (active at start when given).
    coverage_file
        A coverage GeoPackage whose ``summary`` table ``/v1/coverage/summary`` serves.
    maps_dir
        Directory served at ``/maps/`` (``index.html`` for the directory).
    demo_dir
        Directory served at ``/demo/``.
    api_key_hashes
        SHA-256 hex digests of the API keys allowed to write (comma separated in
        the environment). Without any, writes are refused.
    read_requires_key
        Whether reads need a key too.
    batch_limit
        Most points in one ``POST /v1/locate``.
    max_body_bytes
        Largest request body, except for plan uploads.
    max_upload_bytes
        Largest body of ``POST /v1/plans`` (uploaded inputs).
    input_roots
        Directories that referenced input paths of ``POST /v1/plans`` must lie in;
        empty allows any path the server can read (the caller holds a write key).
    job_executor
        Run partition jobs in a separate process (default) or a thread.
    partition_runner
        ``module:function`` that runs a partition job.
    jobs_dir
        Where uploads and job outputs are kept while a job runs (default: a temp dir).
    refresh_seconds
        How often the plan store looks for new plans and outside activations (0: never).
    """

    model_config = SettingsConfigDict(env_prefix="GRIDDER_", extra="ignore")

    plans_dir: Path | None = None
    plan_file: Path | None = None
    coverage_file: Path | None = None
    maps_dir: Path | None = None
    demo_dir: Path | None = None
    api_key_hashes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    read_requires_key: bool = False
    batch_limit: int = Field(default=100_000, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    input_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    job_executor: Literal["process", "thread"] = "process"
    partition_runner: str = "gridder.pipeline:partition_files"
    jobs_dir: Path | None = None
    refresh_seconds: float = Field(default=2.0, ge=0)

    @field_validator("api_key_hashes", mode="before")
    @classmethod
    def _parse_hashes(cls, value: Any) -> Any:
        value = _split(value)
        if isinstance(value, list):
            value = [str(v).strip().lower() for v in value]
            bad = [v for v in value if not _HEX64.match(v)]
            if bad:
                msg = "api_key_hashes must be SHA-256 hex digests (64 hex characters)"
                raise ValueError(msg)
        return value

    @field_validator("input_roots", mode="before")
    @classmethod
    def _parse_roots(cls, value: Any) -> Any:
        return _split(value)


def get_settings(**overrides: Any) -> ApiSettings:
    """Build the settings from the environment, with keyword overrides."""
    return ApiSettings(**overrides)
