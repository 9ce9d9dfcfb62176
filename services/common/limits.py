"""Request bodies over a size limit are refused with 413 before anything parses them.

A pure ASGI middleware (every service and the web app install it): a declared
`Content-Length` over the limit is answered at once; a body sent without one (chunked) is
counted as it arrives and refused as soon as it passes the limit, so a client cannot make a
service buffer or parse more than the limit. JSON bodies get `max_body_bytes`; file uploads
(`multipart/form-data`: beneficiary imports, bank confirmations through the pages) and files
sent as the body (`text/csv`: a bank confirmation to the ledger) get `max_upload_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import PayloadTooLarge, error_response

MIB = 1024 * 1024
# Bodies that are files: an upload form, or a file sent as the body itself (a bank's
# confirmation CSV); the route may hold it to a smaller limit of its own.
FILE_TYPES = (b"multipart/form-data", b"text/csv")


def json_refusal(error: PayloadTooLarge, _: Scope) -> Response:
    return error_response(error)


class BodyLimit:
    """`refuse` renders the 413 answer (JSON for a service, a page for the web app)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        refuse: Callable[[PayloadTooLarge, Scope], Response] = json_refusal,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.refuse = refuse

    def _limit(self, headers: dict[bytes, bytes]) -> int:
        if headers.get(b"content-type", b"").startswith(FILE_TYPES):
            return self.max_upload_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = self._limit(headers)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self.refuse(_refusal(limit), scope)(scope, receive, send)
            return
        received = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 here, then tell the app the client has gone: whatever it
                    # answers to that is dropped (guarded_send).
                    refused = True
                    if not started:
                        await self.refuse(_refusal(limit), scope)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = True
            await send(message)

        await self.app(scope, counted, guarded_send)


def _refusal(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body may be at most {limit} bytes.")


def install_body_limit(
    app: Any,
    *,
    max_body_bytes: int,
    max_upload_bytes: int,
    refuse: Callable[[PayloadTooLarge, Scope], Response] = json_refusal,
) -> None:
    app.add_middleware(
        BodyLimit, max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes, refuse=refuse
    )
