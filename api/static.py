"""The key check of the static files (``/maps/``, ``/demo/``) when reads need a key.

The ``/v1`` routes check ``X-API-Key`` in a dependency; the mounted static
files bypass FastAPI's dependencies, so :class:`KeyedStatic` wraps them. It
takes the key from

1. the ``X-API-Key`` header (scripts: ``curl -H "X-API-Key: $KEY"``), or
2. a ``?key=`` query parameter, for a browser, which cannot send a header: a
   valid key answers ``303 See Other`` to the same address without ``key`` and
   sets an ``HttpOnly``, ``SameSite=Strict`` session cookie, so that the page's
   scripts and styles, and the next pages, load with the cookie; then
3. that cookie.

The cookie never holds the key: it holds an HMAC of the key's SHA-256 under a
secret drawn when the app is made, so it opens the static files only (the
``/v1`` routes ignore it) and stops working when the server restarts (open the
page with ``?key=`` again).

Examples
--------
>>> app.mount("/maps", KeyedStatic(StaticFiles(directory="maps"), gate=gate))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import key_matches

__all__ = ["COOKIE", "KeyGate", "KeyedStatic"]

#: Name of the cookie that opens the static files after a ``?key=`` visit.
COOKIE: Final = "gridder_read"


class KeyGate:
    """Which requests for static files carry a valid key (header, ``?key=`` or cookie).

    Parameters
    ----------
    hashes
        SHA-256 hex digests of the keys the server accepts.
    secret
        Secret of the cookie tokens (default: 32 random bytes, so tokens die with the process).
    """

    def __init__(self, hashes: list[str], *, secret: bytes | None = None) -> None:
        self.hashes = list(hashes)
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def _token(self, digest: str) -> str:
        return hmac.new(self._secret, digest.encode("ascii"), hashlib.sha256).hexdigest()

    def token_for(self, key: str) -> str:
        """The cookie value for a valid key."""
        return self._token(hashlib.sha256(key.encode("utf-8")).hexdigest())

    def cookie_valid(self, value: str) -> bool:
        """Whether a cookie value is the token of one of the keys (constant time)."""
        found = False
        for digest in self.hashes:
            found |= hmac.compare_digest(self._token(digest), value)
        return found

    def check(self, request: Request) -> Response | None:
        """``None`` when the request may read; else the answer (401, 403 or the 303 redirect)."""
        if not self.hashes:
            return _error(403, "reads are disabled: no API key is configured on this server")
        header = request.headers.get("x-api-key")
        if header:
            if key_matches(header, self.hashes):
                return None
            return _error(403, "the API key is not valid")
        query = request.query_params.getlist("key")
        if query:
            if len(query) == 1 and key_matches(query[0], self.hashes):
                return self._redirect(request, query[0])
            return _error(403, "the API key is not valid")
        cookie = request.cookies.get(COOKIE)
        if cookie and self.cookie_valid(cookie):
            return None
        msg = (
            "reads need an API key: send it in the X-API-Key header, or open this page "
            "once as ...?key=KEY (the browser then keeps a cookie until the server restarts)"
        )
        return _error(401, msg, headers={"WWW-Authenticate": "X-API-Key"})

    def _redirect(self, request: Request, key: str) -> Response:
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "key"]
        # a relative target (the Host header is not trusted); the path is under the mount
        location = quote(request.scope["path"]) + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(location, status_code=303)
        response.set_cookie(COOKIE, self.token_for(key), path="/", httponly=True, samesite="strict")
        response.headers["Cache-Control"] = "no-store"
        return response


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class KeyedStatic:
    """An ASGI app (a mounted ``StaticFiles``) that answers only requests with a valid key.

    Parameters
    ----------
    app
        The wrapped app.
    gate
        The key check (:class:`KeyGate`).
    """

    def __init__(self, app: ASGIApp, *, gate: KeyGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request with a valid key on; answer any other with the gate's answer."""
        if scope["type"] == "http":
            refusal = self.gate.check(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
