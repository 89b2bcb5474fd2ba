"""HTTP method plumbing FastAPI leaves out: ``HEAD`` wherever ``GET`` works, and a full ``Allow``.

RFC 9110 §9.3.2 asks every resource that answers ``GET`` to answer ``HEAD``
(the same headers, no body). Starlette routes do; FastAPI routes take only
the methods they name. :func:`add_head_routes` gives each ``GET`` route of a
router a ``HEAD`` twin (same endpoint and dependencies; the server drops the
body), left out of the OpenAPI document.

A 405's ``Allow`` header from Starlette names the methods of the first route of
the path only (``GET`` for ``/v1/locate``, which takes ``POST`` too);
:func:`allowed_methods` asks every route, for every method.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.routing import Match

__all__ = ["add_head_routes", "allowed_methods"]

METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def add_head_routes(router: APIRouter) -> APIRouter:
    """Give each ``GET`` route of ``router`` a ``HEAD`` twin (once; calling again adds none).

    Returns
    -------
    APIRouter
        ``router`` itself.
    """
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    with_head = {r.path for r in routes if "HEAD" in (r.methods or ())}
    for route in routes:
        if "GET" in (route.methods or ()) and route.path not in with_head:
            # add_api_route adds the router's prefix and dependencies again: pass the route's own
            router.add_api_route(
                route.path.removeprefix(router.prefix),
                route.endpoint,
                methods=["HEAD"],
                dependencies=route.dependencies[len(router.dependencies) :],
                response_model=route.response_model,
                response_class=route.response_class,
                status_code=route.status_code,
                include_in_schema=False,
                name=f"{route.name}_head",
            )
    return router


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path."""
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.routes):
            allowed.append(method)
    return allowed
