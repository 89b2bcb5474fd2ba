"""Request body checks as a plain ASGI middleware: size (413) and encoding (415), JSON answers.

A declared ``Content-Length`` above the limit is refused before the body is
read; a streamed (chunked) body is counted as it arrives and refused as soon as
it passes the limit. A body sent compressed (``Content-Encoding: gzip``, …) is
refused with 415: the server reads bodies as sent, and would otherwise answer
"Invalid JSON". Plain ASGI, not ``BaseHTTPMiddleware``: it adds next to nothing
to a lookup.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gridder.errors import GridderError

__all__ = ["BodySizeLimit", "BodyTooLargeError"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class BodyTooLargeError(GridderError):
    """A request body is larger than the server accepts (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body too large: the limit is {limit} bytes")


class BodySizeLimit:
    """Refuse request bodies above ``max_bytes`` (``upload_max_bytes`` on upload paths), or encoded.

    Parameters
    ----------
    app
        The wrapped ASGI app.
    max_bytes
        Limit for every request body.
    upload_max_bytes
        Limit for POST requests to ``upload_paths``.
    upload_paths
        Exact paths that take uploads.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_max_bytes: int,
        upload_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 (body too large) or 415 (body compressed)."""
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        limit = (
            self.upload_max_bytes
            if scope["method"] == "POST" and scope["path"] in self.upload_paths
            else self.max_bytes
        )
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await _reject(send, 413, str(BodyTooLargeError(limit)))
                    return
            elif name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
                coding = value.decode("latin-1").strip()
                msg = f"Content-Encoding {coding} not supported: send the body uncompressed"
                await _reject(send, 415, msg)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        await self.app(scope, counted, send)


async def _reject(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
