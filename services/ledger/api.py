"""Routes of the ledger service. Rules are in service/; this file only maps HTTP to them.

Roles: finance and auditor read (scoped by region: a scope sees the accounts of the regions
it covers); finance appropriates, reverses and closes periods; services post commitments and
outbox events. Writes carry an idempotency key; see docs/ledger.md for every error code.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.common.auth import Principal, Role, require
from services.common.errors import Forbidden, InvalidInput
from services.common.regions import ancestors, is_valid_code_shape, significant_prefix
from services.ledger.errors import EntryNotFound, ScopeRequired
from services.ledger.schemas import (
    AppropriationCreate,
    CommitmentCreate,
    EventBatch,
    Period,
    PeriodClose,
    ReversalCreate,
)
from services.ledger.service import audit, events, writes
from services.ledger.settlement import copay as settlement_copay

router = APIRouter(prefix="/v1", tags=["ledger"])

# who may call: role dependencies (scope is checked in each handler)
FINANCE_ONLY = require(Role.finance)
SERVICE_ONLY = require(Role.service)
SERVICE_FINANCE_AUDITOR = require(Role.service, Role.finance, Role.auditor)
FINANCE_AUDITOR = require(Role.finance, Role.auditor)
AUDITOR_ONLY = require(Role.auditor)
TZ = ZoneInfo("Asia/Shanghai")
MAX_ID = 2**63 - 1  # account ids are bigint

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED / BEARER_TOKEN_EXPIRED / BEARER_TOKEN_INVALID"},
    403: {"description": "ROLE_NOT_ALLOWED / OUT_OF_SCOPE"},
    409: {"description": "IDEMPOTENCY_KEY_REUSED, BUDGET_EXCEEDED, ... (docs/ledger.md)"},
    422: {"description": "VALIDATION_ERROR / FILTER_NOT_SUPPORTED / ..."},
}


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.db.raw_pool


def _scope(p: Principal) -> str:
    """The region prefix the caller may see ('' for a service: everything)."""
    if p.role == Role.service:
        return ""
    if not p.region or not is_valid_code_shape(p.region):
        raise Forbidden("A region scope is required.", code="OUT_OF_SCOPE", field="region_code")
    return significant_prefix(p.region)


def _asked(p: Principal, region_code: str | None) -> str:
    if region_code is None:
        return _scope(p)
    if not is_valid_code_shape(region_code):
        raise InvalidInput("region_code must be a 6, 9 or 12 digit code.", field="region_code")
    _scope(p)
    p.ensure_region(region_code)
    return significant_prefix(region_code)


def _province_wide(p: Principal) -> None:
    if len(_scope(p)) > 2:
        raise ScopeRequired("This needs a province-wide scope.", field="region_code")


def _aware(value: datetime | None) -> datetime | None:
    """Times without a zone are Beijing time."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=TZ)
    return value


def _answer(outcome: writes.Outcome) -> JSONResponse:
    return JSONResponse(outcome.body, status_code=outcome.status_code)


# --- writes ---------------------------------------------------------------------------------


@router.post("/appropriations", status_code=201, responses=ERRORS)
async def create_appropriation(
    body: AppropriationCreate, request: Request, p: Principal = FINANCE_ONLY
) -> JSONResponse:
    """Appropriate budget to a program and region, by funding source (treasury cash Dr /
    budget available Cr). Idempotent by `idempotency_key`."""
    _scope(p)
    p.ensure_region(body.region_code)
    return _answer(await writes.appropriate(_pool(request), body, p.sub))


@router.post("/commitments", status_code=201, responses=ERRORS)
async def create_commitment(
    body: CommitmentCreate, request: Request, p: Principal = SERVICE_ONLY
) -> JSONResponse:
    """Commit budget before issuance (contract in docs/architecture.md). 409 BUDGET_EXCEEDED
    with `details.available_fen` when a funding source cannot cover its share; nothing is
    posted then. Idempotent by `idempotency_key`."""
    return _answer(await writes.commit_budget(_pool(request), body, p.sub))


@router.post("/events", responses=ERRORS)
async def post_events(
    body: EventBatch, request: Request, p: Principal = SERVICE_ONLY
) -> dict[str, Any]:
    """Apply a batch of outbox events in one transaction, each exactly once by `event_id`.
    Each result is `applied` (with `entry_id`), `duplicate` or `rejected` (with `error`)."""
    await settlement_copay.record_methods(_pool(request), body.events)  # settlement/copay.py
    return {"results": await events.apply_events(_pool(request), body.events, p.sub)}


@router.post("/entries/{entry_id}/reverse", status_code=201, responses=ERRORS)
async def reverse_entry(
    entry_id: uuid.UUID, body: ReversalCreate, request: Request, p: Principal = FINANCE_ONLY
) -> JSONResponse:
    """Correct an entry by a reversing entry (each entry is reversed at most once)."""
    _scope(p)
    return _answer(
        await writes.reverse_entry(_pool(request), entry_id, body, p.sub, p.ensure_region)
    )


@router.post("/periods/{period}/close", responses=ERRORS)
async def close_period(
    period: Annotated[Period, Path()],
    body: PeriodClose,
    request: Request,
    p: Principal = FINANCE_ONLY,
) -> JSONResponse:
    """Close an ended accounting period (YYYY-MM); the database then refuses entries dated
    in it. Needs a province-wide finance scope."""
    _province_wide(p)
    return _answer(await writes.close_period(_pool(request), period, body.idempotency_key, p.sub))


# --- reads ----------------------------------------------------------------------------------


@router.get("/budget", responses=ERRORS)
async def get_budget(
    request: Request,
    program_code: Annotated[str, Query(max_length=40)],
    region_code: Annotated[str, Query(max_length=12)],
    p: Principal = SERVICE_FINANCE_AUDITOR,
) -> dict[str, Any]:
    """Budget available to a program at the nearest region at or above `region_code` that
    has one, in total and by funding source."""
    _asked(p, region_code)
    result = await audit.budget(_pool(request), program_code, ancestors(region_code))
    if result["budget_region_code"] and not p.covers_region(result["budget_region_code"]):
        raise Forbidden(
            "The budget region is outside your scope.", code="OUT_OF_SCOPE", field="region_code"
        )
    return result


@router.get("/trial-balance", responses=ERRORS)
async def get_trial_balance(
    request: Request,
    as_of: datetime | None = None,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    p: Principal = FINANCE_AUDITOR,
) -> dict[str, Any]:
    """Trial balance as of a time (default now): each account in scope with its debit and
    credit totals and balance; total debits equal total credits."""
    return await audit.trial_balance(_pool(request), _aware(as_of), _asked(p, region_code))


@router.get("/entries", responses=ERRORS)
async def get_entries(
    request: Request,
    account: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    provider_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    beneficiary_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    voucher_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    program_code: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    period: Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    p: Principal = FINANCE_AUDITOR,
) -> dict[str, Any]:
    """Journal entries with their postings, filtered by account and every dimension, in
    sequence order, keyset-paginated by `cursor`, from one snapshot. A combination that can
    only be empty by construction is refused with 422 FILTER_NOT_SUPPORTED."""
    prefix = _asked(p, region_code)
    acct = None
    if account is not None:
        acct = await audit.load_account(_pool(request), account)
        p.ensure_region(acct["region_code"])
    filters = {
        k: v
        for k, v in (
            ("provider_id", provider_id),
            ("beneficiary_id", beneficiary_id),
            ("voucher_id", voucher_id),
            ("program_code", program_code),
        )
        if v is not None
    }
    return await audit.entries(
        _pool(request),
        region_prefix=prefix,
        account=acct,
        filters=filters,
        period=period,
        start=_aware(from_),
        end=_aware(to),
        after_seq=int(cursor or 0),
        limit=limit,
    )


@router.get("/entries/{entry_id}", responses=ERRORS)
async def get_entry(
    request: Request, entry_id: uuid.UUID, p: Principal = FINANCE_AUDITOR
) -> dict[str, Any]:
    """One journal entry with its postings."""
    _scope(p)
    found = await audit.entry(_pool(request), entry_id)
    if found is None:
        raise EntryNotFound(field="entry_id")
    p.ensure_region(found["region_code"])
    return found


@router.get("/accounts/{account_id}/statement", responses=ERRORS)
async def get_statement(
    request: Request,
    account_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    p: Principal = FINANCE_AUDITOR,
) -> dict[str, Any]:
    """An account's statement: opening balance at `from`, each posting to `to` with the
    running balance, and the closing balance."""
    _scope(p)
    acct = await audit.load_account(_pool(request), account_id)
    p.ensure_region(acct["region_code"])
    return await audit.statement(_pool(request), acct, _aware(from_), _aware(to))


@router.get("/chain/verify", responses=ERRORS)
async def verify_chain(request: Request, p: Principal = AUDITOR_ONLY) -> dict[str, Any]:
    """Recompute the whole hash chain: `{ok, entries_checked, head_hash}`, and the first bad
    entry when not ok. Needs a province-wide auditor scope."""
    _province_wide(p)
    return await audit.verify_chain(_pool(request))


@router.get("/metrics", responses=ERRORS)
async def get_metrics(request: Request, p: Principal = SERVICE_FINANCE_AUDITOR) -> dict[str, Any]:
    """Event application counts by type and outcome, entries posted, and delivery lag
    (book-wide, so people need a province-wide scope)."""
    if p.role != Role.service:
        _province_wide(p)
    return await audit.metrics(_pool(request), dict(events.METRICS))
