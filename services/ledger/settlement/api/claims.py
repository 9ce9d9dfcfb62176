"""Routes of settlement: claims (and their approval). Rules are in claims.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
import httpx
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import Principal, Role, require
from services.common.crypto import PiiCipher
from services.common.errors import Forbidden, InvalidInput
from services.common.settings import get_common_settings
from services.ledger.settlement import batch_list, batches, claims, reconciliation, reports
from services.ledger.settlement.clients import ProviderClient, StripeReader, VoucherClient
from services.ledger.settlement.schemas import (
    BatchCreate,
    ClaimApprove,
    ClaimCreate,
    ClaimReject,
    ClaimResubmit,
    Period,
)
from services.ledger.settlement.secrets import bank_cipher

router = APIRouter(prefix="/v1", tags=["settlement"])

PROVIDER_ADMIN = require(Role.provider_admin)
FINANCE = require(Role.finance)
READERS = require(Role.provider_admin, Role.finance, Role.auditor)
FINANCE_AUDITOR = require(Role.finance, Role.auditor)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED / BEARER_TOKEN_EXPIRED / BEARER_TOKEN_INVALID"},
    403: {"description": "ROLE_NOT_ALLOWED / OUT_OF_SCOPE / MAKER_CHECKER_VIOLATION"},
    404: {"description": "CLAIM_NOT_FOUND"},
    409: {"description": "IDEMPOTENCY_KEY_REUSED / CLAIM_STATUS_CONFLICT"},
    422: {"description": "VALIDATION_ERROR / NOTHING_TO_CLAIM / CLAIM_LINES_REFUSED"},
    503: {"description": "VOUCHER_SERVICE_UNAVAILABLE (retry with the same key)"},
}


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.db.raw_pool


def _voucher(request: Request) -> VoucherClient:
    """The voucher client: an injected `app.state.voucher_client` (tests) or one to the
    configured voucher URL, made once."""
    client = getattr(request.app.state, "voucher_api", None)
    if client is None:
        settings = get_common_settings()
        http = getattr(request.app.state, "voucher_client", None) or httpx.AsyncClient(
            base_url=settings.voucher_url
        )
        client = request.app.state.voucher_api = VoucherClient(http, settings.auth_private_key)
    return client


@router.get("/claims/claimable", responses=ERRORS)
async def get_claimable(
    request: Request,
    provider_id: Annotated[str, Query(min_length=1, max_length=64)],
    period: Annotated[Period, Query()],
    p: Principal = PROVIDER_ADMIN,
) -> dict[str, Any]:
    """What the provider could claim for the period now: posted redemptions not voided and
    in no claim, with the total."""
    p.ensure_provider(provider_id)
    return await claims.claimable(_pool(request), provider_id, period)


@router.post("/claims", status_code=201, responses=ERRORS)
async def create_claim(
    body: ClaimCreate, request: Request, p: Principal = PROVIDER_ADMIN
) -> JSONResponse:
    """Claim a period for your provider: `{provider_id, period}` claims every claimable
    redemption; `redemption_ids` claims exactly those (any that is not posted, voided,
    already claimed or of another period is refused and named in `details.lines`). The
    redemptions are marked claimed in the voucher service, after which they cannot be voided.
    Idempotent by `idempotency_key`."""
    p.ensure_provider(body.provider_id)
    status, out = await claims.create_claim(_pool(request), _voucher(request), body, p)
    return JSONResponse(out, status_code=status)


@router.get("/claims", responses=ERRORS)
async def list_claims(
    request: Request,
    provider_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[
        str | None, Query(pattern="^(submitted|rejected|approved|batched|paid)$")
    ] = None,
    period: Annotated[Period | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    p: Principal = READERS,
) -> dict[str, Any]:
    """Claims, newest first: a provider admin sees its own provider's; finance and auditors
    those whose regions they cover (e.g. `status=submitted` to find work to approve)."""
    if p.role == Role.provider_admin:
        if provider_id is None:
            provider_id = p.provider_id or ""
        p.ensure_provider(provider_id)
    elif not p.region:
        raise Forbidden("A region scope is required.", code="OUT_OF_SCOPE", field="region_code")
    return {
        "items": await claims.list_claims(
            _pool(request), p, provider_id=provider_id, status=status, period=period, limit=limit
        )
    }


@router.get("/claims/{claim_id}", responses=ERRORS)
async def get_claim(
    claim_id: uuid.UUID, request: Request, p: Principal = READERS
) -> dict[str, Any]:
    """A claim with its redemptions, total and history (comments, reasons)."""
    claim = await claims.claim_for(_pool(request), claim_id)
    claims.ensure_may_see(p, claim)
    return await claims.read_claim(_pool(request), claim_id)


@router.post("/claims/{claim_id}/approve", responses=ERRORS)
async def approve_claim(
    claim_id: uuid.UUID, request: Request, body: ClaimApprove | None = None, p: Principal = FINANCE
) -> dict[str, Any]:
    """Approve a submitted claim (maker-checker): finance covering the claim's region, not
    the person who prepared, submitted or edited it. Approving again answers the same."""
    return await claims.decide(
        _pool(request), claim_id, p, approve=True, comment=body.comment if body else None
    )


@router.post("/claims/{claim_id}/reject", responses=ERRORS)
async def reject_claim(
    claim_id: uuid.UUID, body: ClaimReject, request: Request, p: Principal = FINANCE
) -> dict[str, Any]:
    """Send a submitted claim back to the provider with reasons."""
    return await claims.decide(
        _pool(request), claim_id, p, approve=False, comment=body.comment, reasons=body.reasons
    )


@router.post("/claims/{claim_id}/resubmit", responses=ERRORS)
async def resubmit_claim(
    claim_id: uuid.UUID,
    request: Request,
    body: ClaimResubmit | None = None,
    p: Principal = PROVIDER_ADMIN,
) -> dict[str, Any]:
    """Send a rejected claim back to finance (the provider's admin)."""
    return await claims.resubmit(_pool(request), claim_id, p, body.comment if body else None)


# --- payment batches ------------------------------------------------------------------------

MAX_CONFIRMATION_BYTES = 5 * 1024 * 1024


def _stripe(request: Request) -> StripeReader | None:
    """Stripe's records for reconciliation: an injected `app.state.stripe_reader` (tests) or
    one to the configured Stripe API base; None when Stripe is not configured."""
    reader = getattr(request.app.state, "stripe_reader", None)
    if reader is None:
        settings = getattr(request.app.state, "settings", None)
        base = getattr(settings, "stripe_api_base", None)
        key = getattr(settings, "stripe_secret_key", None)
        if not base or not key:
            return None
        reader = request.app.state.stripe_reader = StripeReader(
            httpx.AsyncClient(base_url=base), key
        )
    return reader


def _bank_cipher(request: Request) -> PiiCipher:
    """The cipher of bank account numbers at rest, from the ledger's settings."""
    return bank_cipher(request.app.state.settings)


def _providers(request: Request) -> ProviderClient:
    client = getattr(request.app.state, "provider_api", None)
    if client is None:
        settings = get_common_settings()
        http = getattr(request.app.state, "provider_client", None) or httpx.AsyncClient(
            base_url=settings.provider_url
        )
        client = request.app.state.provider_api = ProviderClient(http, settings.auth_private_key)
    return client


@router.post("/payment-batches", status_code=201, responses=ERRORS)
async def create_batch(
    body: BatchCreate, request: Request, p: Principal = FINANCE
) -> dict[str, Any]:
    """Group approved claims into a payment batch and produce its payment instruction file
    (CSV, SHA-256 in `file_sha256`; layout in docs/settlement.md). Payees' bank accounts
    come from the provider service. Idempotent by `idempotency_key`; a claim goes in one
    batch only (409 CLAIMS_NOT_PAYABLE names claims that are not approved or already batched).
    With `cash_benefit_period` the period's payable nursing-subsidy cash benefits within the
    region go in too (payee the beneficiary, account from the voucher service); people
    without a payout account are listed under `not_payable` with the reason."""
    p.ensure_region(body.region_code)
    return await batches.create_batch(
        _pool(request),
        _providers(request),
        region_code=body.region_code,
        claim_ids=body.claim_ids,
        idempotency_key=body.idempotency_key,
        who=p,
        cash_benefit_period=body.cash_benefit_period,
        include_claims=body.include_claims,
        vouchers=_voucher(request),
        box=_bank_cipher(request),
    )


@router.get("/payment-batches", responses=ERRORS)
async def list_batches(
    request: Request,
    region_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    p: Principal = FINANCE_AUDITOR,
) -> dict[str, Any]:
    """Payment batches within `region_code` (default your whole scope), newest first:
    `{items: [{id, reference, region_code, total_fen, count, lines_pending, lines_paid,
    lines_failed, paid_fen, state}], next_cursor}`; pass `next_cursor` back for the next
    page. `state` is `pending`, `paid` or `partly_failed`."""
    return await batch_list.list_batches(
        _pool(request), p, region_code=region_code, limit=limit, cursor=cursor
    )


@router.get("/cash-benefits/payable", responses=ERRORS)
async def get_payable_cash_benefits(
    request: Request,
    period: Annotated[Period, Query()],
    region_code: Annotated[str, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")],
    p: Principal = FINANCE_AUDITOR,
) -> dict[str, Any]:
    """The nursing-subsidy cash benefits (2202) of a period within a region not yet paid or
    batched: `payable` (with the beneficiary's bank and masked account number) and
    `not_payable` with the reason (`NO_PAYOUT_ACCOUNT`, `BENEFICIARY_UNKNOWN`)."""
    p.ensure_region(region_code)
    return await batches.payable_cash_benefits(
        _pool(request), _voucher(request), period=period, region_code=region_code, who=p
    )


@router.get("/payment-batches/{batch_id}", responses=ERRORS)
async def get_batch(
    batch_id: uuid.UUID, request: Request, p: Principal = FINANCE_AUDITOR
) -> dict[str, Any]:
    """A payment batch with its lines and their status (pending, paid, failed)."""
    return await batches.read_batch(_pool(request), batch_id, p)


@router.get("/payment-batches/{batch_id}/file", responses=ERRORS)
async def get_batch_file(
    batch_id: uuid.UUID, request: Request, p: Principal = FINANCE_AUDITOR
) -> Response:
    """The payment instruction file (text/csv), byte for byte as produced; its SHA-256 is
    in the `X-Checksum-SHA256` header."""
    body, sha, reference = await batches.batch_file(
        _pool(request), batch_id, p, _bank_cipher(request)
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "X-Checksum-SHA256": sha,
            "Content-Disposition": f'attachment; filename="{reference}.csv"',
        },
    )


@router.post("/payment-batches/{batch_id}/confirmations", responses=ERRORS)
async def import_confirmation(
    batch_id: uuid.UUID, request: Request, p: Principal = FINANCE
) -> dict[str, Any]:
    """Import the bank's confirmation file (CSV body: batch_reference, line_reference,
    status paid|failed, amount_fen[, bank_reference, reason]). Paid lines are posted
    (provider payable Dr / treasury cash Cr) once; failed lines return their claim to
    approved. The same file again posts nothing (`duplicate_file: true`)."""
    raw = await request.body()
    if len(raw) > MAX_CONFIRMATION_BYTES:
        raise InvalidInput("The file is too large.", code="FILE_TOO_LARGE", field="file")
    if not raw.strip():
        raise InvalidInput("The file is empty.", code="CONFIRMATION_INVALID", field="file")
    return await batches.import_confirmation(_pool(request), batch_id, raw, p)


# --- statements and aging -------------------------------------------------------------------


@router.get("/providers/{provider_id}/statement", responses=ERRORS)
async def get_provider_statement(
    provider_id: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    period: Annotated[Period, Query()],
    p: Principal = READERS,
) -> dict[str, Any]:
    """A provider's statement for a period from the ledger: opening payable, redemptions,
    voids, payments, other corrections, closing (closing = opening + redemptions - voids -
    payments + other). The provider's admin, or finance/auditor covering its accounts."""
    if p.role == Role.provider_admin:
        p.ensure_provider(provider_id)
    elif not p.region:
        raise Forbidden("A region scope is required.", code="OUT_OF_SCOPE", field="region_code")
    return await reports.statement(_pool(request), provider_id, period, p)


@router.get("/aging", responses=ERRORS)
async def get_aging(request: Request, p: Principal = FINANCE_AUDITOR) -> dict[str, Any]:
    """Approved-but-unpaid claim amounts per provider, bucketed by days waited since
    approval (0-30, 31-60, 61-90, over 90), within your region scope."""
    if not p.region:
        raise Forbidden("A region scope is required.", code="OUT_OF_SCOPE", field="region_code")
    return await reports.aging(
        _pool(request), lambda regions: all(p.covers_region(r) for r in regions)
    )


# --- reconciliation -------------------------------------------------------------------------


@router.get("/reconciliation", responses=ERRORS)
async def get_reconciliation(
    request: Request,
    period: Annotated[Period, Query()],
    region_code: Annotated[str, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")],
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    p: Principal = FINANCE_AUDITOR,
) -> Any:
    """Reconcile a period and region three ways: voucher-side redemptions vs ledger postings
    vs claims and payments, and Σ voucher balances vs vouchers outstanding. `{ok,
    discrepancies: [{kind, record, side, amount_fen, detail}]}`, empty when all agree;
    `format=csv` or `format=xlsx` exports the discrepancies."""
    p.ensure_region(region_code)
    report = await reconciliation.reconcile(
        _pool(request), _voucher(request), period, region_code, _stripe(request)
    )
    name = f"reconciliation-{region_code}-{period}"
    if format == "csv":
        return Response(
            reconciliation.as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        return Response(
            reconciliation.as_xlsx(report),
            media_type=("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return report
