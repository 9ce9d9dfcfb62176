"""One error type, one JSON shape, one set of handlers for every service.

Every refusal is `{"error": {"code": "UPPER_SNAKE", "message": "...", "field": "..."}}` with a
4xx status. Codes are stable: clients (terminals, the treasury, auditors' tools) branch on them.
Handlers never echo the rejected input back, because input may hold personal data.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("yiyang.errors")


class AppError(Exception):
    """Base of every error a service raises on purpose. Subclass per refusal."""

    status_code: int = 400
    code: str = "BAD_REQUEST"
    message: str = "The request cannot be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        self.field = field
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            err["field"] = self.field
        if self.details:
            err["details"] = self.details
        return {"error": err}


class Unauthenticated(AppError):
    status_code = 401
    code = "UNAUTHENTICATED"
    message = "A valid bearer token is required."


class TokenExpired(Unauthenticated):
    code = "BEARER_TOKEN_EXPIRED"
    message = "The bearer token has expired; sign in again."


class InvalidToken(Unauthenticated):
    code = "BEARER_TOKEN_INVALID"
    message = "The bearer token is not valid (signature, issuer, or a terminal using a token)."


class InvalidTerminal(Unauthenticated):
    code = "INVALID_TERMINAL"
    message = "Unknown or revoked terminal secret."


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    message = "This role or scope may not do that."


class RoleNotAllowed(Forbidden):
    code = "ROLE_NOT_ALLOWED"
    message = "The caller's role may not call this."


class OutOfScope(Forbidden):
    code = "OUT_OF_SCOPE"
    message = "The region, provider or person is outside the caller's scope."


class ProvinceUnknown(AppError):
    status_code = 422
    code = "PROVINCE_UNKNOWN"
    message = (
        "The request names no province this deployment serves (a region code, an id made "
        "in a province, or the X-Yiyang-Province header): docs/shards.md."
    )


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "No such resource."


class MethodNotAllowed(AppError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    message = "This path does not take that method."


class HttpError(AppError):
    code = "HTTP_ERROR"
    message = "The HTTP request was refused before it reached a route (its status says why)."


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    message = "The request conflicts with the current state."


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This idempotency key was already used with a different request."


class RetryLater(Conflict):
    code = "RETRY_LATER"
    message = "The database could not serialise this request with another; retry it."


class ConstraintViolation(Conflict):
    code = "CONSTRAINT_VIOLATION"
    message = "The database refused the change (a constraint without a code of its own)."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The request body is larger than this service accepts."


class InvalidInput(AppError):
    status_code = 422
    code = "VALIDATION_ERROR"
    message = "The request is not valid; `field` names the first problem, `details.problems` all."


class InvalidIdempotencyKey(InvalidInput):
    code = "INVALID_IDEMPOTENCY_KEY"
    message = "The idempotency key must be 1 to 200 characters."


class InternalError(AppError):
    status_code = 500
    code = "INTERNAL_ERROR"
    message = "Internal error."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "A service this request depends on is not available; retry later."


# --- the catalogue ------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    status: int
    meaning: str


def catalogue(*modules: ModuleType) -> list[CatalogueEntry]:
    """Every code the `AppError` subclasses defined in `modules` carry, with status and meaning.

    A service's catalogue is its errors module(s): each refusal is a class there, so the code,
    its HTTP status and its meaning are written once, and docs/errors.md is generated from them
    (`yiyang errors-doc`). The database's own refusals ('CODE: text' from a trigger) are classes
    there too, so they are listed and documented like the rest.
    """
    entries: dict[str, CatalogueEntry] = {}
    for module in modules:
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, AppError)
                and obj.__module__ == module.__name__
            ):
                entries[obj.code] = CatalogueEntry(obj.code, obj.status_code, obj.message)
    return sorted(entries.values(), key=lambda e: e.code)


def error_response(err: AppError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status_code == 401 else None
    return JSONResponse(err.body(), status_code=err.status_code, headers=headers)


# Database triggers raise messages of the form 'CODE: text' (see the migrations); those codes
# reach the client unchanged, so the database's own refusals keep stable codes too.
_DB_CODE = re.compile(r"^([A-Z][A-Z0-9_]{2,}):\s*(.*)", re.DOTALL)
_DB_STATUS = {"23": 409, "22": 422, "P0": 409, "40": 409}
# Text PostgreSQL cannot store: the NUL character, in a text value (22021) or a JSON escape
# (22P05). Any field of any request may carry it; each is refused whole, nothing written.
_NOT_STORABLE_TEXT = ("22021", "22P05")
NUL_CHARACTER = "NUL_CHARACTER"  # its code in `details.problems`


def _asyncpg_error(exc: BaseException) -> Any:
    """The asyncpg exception behind `exc` (itself, or under SQLAlchemy's DBAPIError wrapper)."""
    current: Any = exc
    seen = 0
    while current is not None and seen < 5:
        if getattr(current, "sqlstate", None):
            return current
        current = getattr(current, "orig", None) or current.__cause__
        seen += 1
    return None


# The connection to the database went away under the request, or none could be had: SQLSTATE
# class 08 (connection exception), the server's shutdown codes (57P01-57P03: terminated,
# crashed, starting up) and 53300 (too many connections: every slot taken, for the server or
# the role) -- a moment's unavailability to retry, never an internal error.
_CONNECTION_LOST = ("08", "57P01", "57P02", "57P03", "53300")


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) means the database connection was lost or could not be
    made: a failover or restart of PostgreSQL (the pooled connection is dead, or no node is
    writable yet), a network cut. Answered 503 SERVICE_UNAVAILABLE: retry, the request is
    idempotent. (docs/operations.md, "Highly available PostgreSQL")."""
    current: Any = exc
    for _ in range(6):
        if current is None:
            return False
        if isinstance(current, ConnectionError | asyncpg.TargetServerAttributeNotMatched):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_CONNECTION_LOST):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "connection is closed" in str(current):
            return True
        # A query on a connection whose server session was terminated while it sat in the pool
        # (asyncpg issue #1069): the protocol is left mid-state; the pool discards it.
        if isinstance(current, asyncpg.InternalClientError) and str(current).startswith(
            "cannot switch to state"
        ):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def db_error_to_app_error(exc: BaseException) -> AppError | None:
    """Map a refusal by PostgreSQL (constraint, trigger) to an AppError, or None if it is not one.

    A lost connection is no refusal (None here: never to be recorded as a request's answer);
    the handlers answer it 503 (`connection_lost`)."""
    pg = _asyncpg_error(exc)
    sqlstate = getattr(pg, "sqlstate", None)
    if not sqlstate or sqlstate[:2] not in _DB_STATUS:
        return None
    if sqlstate in _NOT_STORABLE_TEXT:
        return InvalidInput(
            "Text may not contain the NUL character (U+0000).",
            details={"problems": [{"code": NUL_CHARACTER, "message": "text holds U+0000"}]},
        )
    text = (getattr(pg, "message", None) or str(pg)).strip()
    match = _DB_CODE.match(text)
    if match:
        return AppError(match.group(2), code=match.group(1), status_code=_DB_STATUS[sqlstate[:2]])
    if sqlstate.startswith("40"):
        return RetryLater()
    constraint = getattr(pg, "constraint_name", None)
    return ConstraintViolation(
        "The database refused this change" + (f" ({constraint})." if constraint else "."),
        status_code=_DB_STATUS[sqlstate[:2]],
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


# The codes of `details.problems[*].code` in a VALIDATION_ERROR (anything else: INVALID_VALUE).
PROBLEM_CODES = {
    "missing": "FIELD_REQUIRED",
    "extra_forbidden": "FIELD_NOT_ALLOWED",
    "json_invalid": "MALFORMED_JSON",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            problems.append(
                {
                    # (a body that is not JSON at all: its loc is the parser's position)
                    "field": "body"
                    if e.get("type") == "json_invalid"
                    else _field_of(tuple(e.get("loc", ()))),
                    "code": PROBLEM_CODES.get(e.get("type", ""), "INVALID_VALUE"),
                    # pydantic's message names the rule, never the value; the input is dropped.
                    "message": str(e.get("msg", "invalid")),
                }
            )
        first = (
            problems[0]
            if problems
            else {"field": "body", "code": "INVALID_VALUE", "message": "invalid"}
        )
        err = InvalidInput(
            f"{first['field']}: {first['message']}",
            field=first["field"],
            details={"problems": problems},
        )
        return error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds: dict[int, type[AppError]] = {
            404: NotFound,
            405: MethodNotAllowed,
            401: Unauthenticated,
            403: Forbidden,
        }
        kind = kinds.get(exc.status_code, HttpError)
        response = error_response(
            kind(str(exc.detail) if exc.detail else None, status_code=exc.status_code)
        )
        # Starlette's own headers, e.g. `Allow` on a 405 (RFC 9110 asks for it).
        response.headers.update(exc.headers or {})
        return response

    async def _db(request: Request, exc: Exception) -> JSONResponse:
        if connection_lost(exc):
            log.warning("database connection lost: %s", type(exc).__name__)
            return error_response(ServiceUnavailable())
        mapped = db_error_to_app_error(exc)
        if mapped is not None:
            if isinstance(mapped, InvalidInput) and mapped.field is None:
                # a NUL in a query parameter: name it (in a body: the message says so)
                named = [k for k, v in request.query_params.multi_items() if "\x00" in v]
                mapped.field = named[0] if named else "body"
            return error_response(mapped)
        log.error("database error: %s", type(getattr(exc, "orig", exc)).__name__)
        return error_response(InternalError())

    app.add_exception_handler(DBAPIError, _db)
    app.add_exception_handler(asyncpg.PostgresError, _db)
    # What asyncpg raises when it cannot reach a writable server (mid-failover) or the
    # connection broke: 503 through `connection_lost`, not a 500 with a traceback.
    app.add_exception_handler(asyncpg.InterfaceError, _db)
    app.add_exception_handler(asyncpg.InternalClientError, _db)  # TargetServerAttributeNot...
    app.add_exception_handler(ConnectionError, _db)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Log the type and where it happened, not its text: it may quote personal data.
        log.error("unexpected %s", type(exc).__name__, exc_info=False)
        return error_response(InternalError())
