"""Routes of payment batches: making one, listing, reading, its instruction file, and the
bank's confirmation. Rules are in service/batches.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.common.auth import Principal
from services.common.db import DatabaseDep, SessionDep
from services.ledger.settlement.api.deps import (
    ERRORS,
    FINANCE,
    FINANCE_AUDITOR,
    BankCipherDep,
    ProviderDep,
    VoucherDep,
)
from services.ledger.settlement.errors import ConfirmationInvalid, FileTooLarge
from services.ledger.settlement.schemas import (
    BatchCreate,
    BatchPage,
    BatchRead,
    ConfirmationRead,
    RegionCode,
)
from services.ledger.settlement.service import batches

router = APIRouter(tags=["settlement"])

MAX_CONFIRMATION_BYTES = 5 * 1024 * 1024


@router.post("/payment-batches", status_code=201, responses=ERRORS)
async def create_batch(
    body: BatchCreate,
    db: DatabaseDep,
    providers: ProviderDep,
    vouchers: VoucherDep,
    box: BankCipherDep,
    p: Principal = FINANCE,
) -> BatchRead:
    """Group approved claims into a payment batch and produce its payment instruction file
    (CSV, SHA-256 in `file_sha256`; layout in docs/settlement.md). Payees' bank accounts
    come from the provider service. Idempotent by `idempotency_key`; a claim goes in one
    batch only (409 CLAIMS_NOT_PAYABLE names claims that are not approved or already batched).
    With `cash_benefit_period` the period's payable nursing-subsidy cash benefits within the
    region go in too (payee the beneficiary, account from the voucher service); people
    without a payout account are listed under `not_payable` with the reason."""
    p.ensure_region(body.region_code)
    return await batches.create_batch(
        db,
        providers,
        region_code=body.region_code,
        claim_ids=body.claim_ids,
        idempotency_key=body.idempotency_key,
        who=p,
        cash_benefit_period=body.cash_benefit_period,
        include_claims=body.include_claims,
        vouchers=vouchers,
        box=box,
    )


@router.get("/payment-batches", responses=ERRORS)
async def list_batches(
    session: SessionDep,
    region_code: Annotated[RegionCode | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    p: Principal = FINANCE_AUDITOR,
) -> BatchPage:
    """Payment batches within `region_code` (default your whole scope), newest first:
    `{items: [{id, reference, region_code, total_fen, count, lines_pending, lines_paid,
    lines_failed, paid_fen, state}], next_cursor}`; pass `next_cursor` back for the next
    page. `state` is `pending`, `paid` or `partly_failed`."""
    return await batches.list_batches(
        session, p, region_code=region_code, limit=limit, cursor=cursor
    )


@router.get("/payment-batches/{batch_id}", responses=ERRORS)
async def get_batch(
    batch_id: uuid.UUID, session: SessionDep, p: Principal = FINANCE_AUDITOR
) -> BatchRead:
    """A payment batch with its lines and their status (pending, paid, failed)."""
    return await batches.read_batch(session, batch_id, p)


@router.get("/payment-batches/{batch_id}/file", responses=ERRORS)
async def get_batch_file(
    batch_id: uuid.UUID, session: SessionDep, box: BankCipherDep, p: Principal = FINANCE_AUDITOR
) -> Response:
    """The payment instruction file (text/csv), byte for byte as produced; its SHA-256 is
    in the `X-Checksum-SHA256` header."""
    body, sha, reference = await batches.batch_file(session, batch_id, p, box)
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
    batch_id: uuid.UUID, request: Request, db: DatabaseDep, p: Principal = FINANCE
) -> ConfirmationRead:
    """Import the bank's confirmation file (CSV body: batch_reference, line_reference,
    status paid|failed, amount_fen[, bank_reference, reason]). Paid lines are posted
    (provider payable Dr / treasury cash Cr) once; failed lines return their claim to
    approved. The same file again posts nothing (`duplicate_file: true`). The finance
    officer who made the batch may not import it (403 MAKER_CHECKER_VIOLATION)."""
    raw = await request.body()
    if len(raw) > MAX_CONFIRMATION_BYTES:
        raise FileTooLarge(field="file")
    if not raw.strip():
        raise ConfirmationInvalid("The file is empty.", field="file")
    return await batches.import_confirmation(db, batch_id, raw, p)
