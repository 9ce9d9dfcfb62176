"""Typed dependencies of the ledger's routes: who may call, the caller's region scope, and
the shapes of path and query values."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from services.common.auth import Principal, Role, require
from services.common.errors import InvalidInput, OutOfScope
from services.common.regions import is_valid_code_shape, significant_prefix
from services.ledger.errors import ScopeRequired
from services.ledger.service.idempotency import Outcome

# Who may call (scope is checked in each handler, after the role).
FINANCE_ONLY = require(Role.finance)
SERVICE_ONLY = require(Role.service)
SERVICE_FINANCE_AUDITOR = require(Role.service, Role.finance, Role.auditor)
FINANCE_AUDITOR = require(Role.finance, Role.auditor)
AUDITOR_ONLY = require(Role.auditor)

TZ = ZoneInfo("Asia/Shanghai")
MAX_ID = 2**63 - 1  # account ids are bigint

AccountID = Annotated[int, Path(ge=1, le=MAX_ID)]
RegionQuery = Annotated[str | None, Query(max_length=12)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED / BEARER_TOKEN_EXPIRED / BEARER_TOKEN_INVALID"},
    403: {"description": "ROLE_NOT_ALLOWED / OUT_OF_SCOPE"},
    409: {"description": "IDEMPOTENCY_KEY_REUSED, BUDGET_EXCEEDED, ... (docs/errors.md)"},
    422: {"description": "VALIDATION_ERROR / FILTER_NOT_SUPPORTED / ..."},
}


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


def answer(outcome: Outcome) -> JSONResponse:
    """A keyed write's answer: the first call's status and body, on every replay."""
    return JSONResponse(outcome.body, status_code=outcome.status_code)
