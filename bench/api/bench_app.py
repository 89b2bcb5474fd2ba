"""The API as ``gridder serve`` builds it, plus a constant ``async`` endpoint to compare with."""

from __future__ import annotations

from fastapi import FastAPI

from api.main import create_app


def create_bench_app() -> FastAPI:
    """``create_app()`` from GRIDDER_* variables, with ``GET /bench/const``."""
    app = create_app()

    @app.get("/bench/const")
    async def const() -> dict[str, str]:
        return {"grid_id": "C01-001", "community_id": "C01", "plan_id": "bench"}

    return app
