"""Typed dependencies of the ledger's routes: who may call, the caller's region scope, the
shapes of path and query values, and the clients of the voucher service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import Principal, Role, require
from services.common.errors import InvalidInput, OutOfScope
from services.common.export import MEDIA
from services.common.regions import is_valid_code_shape, significant_prefix
from services.common.settings import get_common_settings
from services.common.shards import province_hooks
from services.common.types import IsoDateTime
from services.ledger.clients import ProgramDirectory
from services.ledger.errors import ScopeRequired
from services.ledger.service.clock import TZ
from services.ledger.service.idempotency import Outcome

# Who may call (scope is checked in each handler, after the role).
FINANCE_ONLY = require(Role.finance)
SERVICE_ONLY = require(Role.service)
SERVICE_FINANCE_AUDITOR = require(Role.service, Role.finance, Role.auditor)
FINANCE_AUDITOR = require(Role.finance, Role.auditor)
AUDITOR_ONLY = require(Role.auditor)

MAX_ID = 2**63 - 1  # account ids are bigint

AccountID = Annotated[int, Path(ge=1, le=MAX_ID)]
RegionQuery = Annotated[str | None, Query(max_length=12)]
# Points in time: ISO 8601 only (a number such as 0.5 is refused); no zone = Beijing time.
AsOf = Annotated[IsoDateTime | None, Query(description="ISO 8601 (no zone: Beijing time)")]
From = Annotated[
    IsoDateTime | None, Query(alias="from", description="ISO 8601 (no zone: Beijing time)")
]
To = Annotated[IsoDateTime | None, Query(description="ISO 8601 (no zone: Beijing time)")]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED / BEARER_TOKEN_EXPIRED / BEARER_TOKEN_INVALID"},
    403: {"description": "ROLE_NOT_ALLOWED / OUT_OF_SCOPE"},
    409: {"description": "IDEMPOTENCY_KEY_REUSED, BUDGET_EXCEEDED, ... (docs/errors.md)"},
    422: {"description": "VALIDATION_ERROR / FILTER_NOT_SUPPORTED / ..."},
}
BUDGET_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: {"description": "VALIDATION_ERROR / UNKNOWN_REGION / UNKNOWN_PROGRAM"},
    503: {"description": "VOUCHER_SERVICE_UNAVAILABLE (retry with the same key)"},
}


def voucher_http(request: Request) -> httpx.AsyncClient:
    """The HTTP client to the voucher service: an injected `app.state.voucher_client` (tests
    pass the in-process client of the real app) or one to the configured URL, made once and
    shared by every client of the voucher service (the programme directory, settlement's)."""
    http: httpx.AsyncClient | None = getattr(request.app.state, "voucher_client", None)
    if http is None:
        http = request.app.state.voucher_client = httpx.AsyncClient(
            base_url=get_common_settings().voucher_url, event_hooks=province_hooks()
        )
    return http


# `async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool.
async def program_directory(request: Request) -> ProgramDirectory:
    """Which programmes exist (the voucher service's), one directory per app: it remembers
    the codes it has found."""
    directory: ProgramDirectory | None = getattr(request.app.state, "program_directory", None)
    if directory is None:
        directory = request.app.state.program_directory = ProgramDirectory(
            voucher_http(request), get_common_settings().auth_private_key
        )
    return directory


ProgramsDep = Annotated[ProgramDirectory, Depends(program_directory)]


def scope(p: Principal) -> str:
    """The region prefix the caller may see ('' for a service: everything)."""
    if p.role == Role.service:
        return ""
    if not p.region or not is_valid_code_shape(p.region):
        raise OutOfScope("A region scope is required.", field="region_code")
    return significant_prefix(p.region)


def asked(p: Principal, region_code: str | None) -> str:
    """The region prefix a read is answered for: the one asked (within scope), else the
    caller's whole scope."""
    if region_code is None:
        return scope(p)
    if not is_valid_code_shape(region_code):
        raise InvalidInput("region_code must be a 6, 9 or 12 digit code.", field="region_code")
    scope(p)
    p.ensure_region(region_code)
    return significant_prefix(region_code)


def province_wide(p: Principal) -> None:
    if len(scope(p)) > 2:
        raise ScopeRequired("This needs a province-wide scope.", field="region_code")


def aware(value: datetime | None) -> datetime | None:
    """Times without a zone are Beijing time."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=TZ)
    return value


FileFormat = Annotated[
    Literal["json", "csv", "xlsx"],
    Query(description="json (default), or a file: csv (UTF-8 with BOM) or xlsx"),
]


def file_response(content: bytes, fmt: str, name: str) -> Response:
    """A download: `name`.csv or .xlsx (or .zip), formula-safe (services.common.export)."""
    media = MEDIA.get(fmt, "application/zip")
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def answer(outcome: Outcome) -> JSONResponse:
    """A keyed write's answer: the first call's status and body, on every replay."""
    return JSONResponse(outcome.body, status_code=outcome.status_code)
