"""The redemption and its preview: the checks, the one-statement hot path, the cold path.

The rule itself is in service/redemption.py (pure). The redemption statement runs in
autocommit on the database's statement pool (services/common/statement_pool.py;
repository/redemption.py, the hot path: it commits before the route returns); so does the
one statement that explains a redemption that paid nothing (a
repeated request's original answer, a used code, a person not active, a spent voucher), which
the preview reads too (`DIAGNOSE`). A card's PIN is the cold path, each step its own short
unit of work on an AsyncSession (repository/codes.py): a wrong PIN is counted in a unit of
work that commits before the refusal is raised, so a refusal never rolls the count back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.common.crypto import mask_name
from services.common.db import Database
from services.common.errors import IdempotencyKeyReused, RetryLater, ServiceUnavailable
from services.common.ids import new_uuid
from services.common.shards import same_province
from services.common.statement_pool import StatementPool
from services.voucher.errors import (
    BeneficiaryDeceased,
    BeneficiaryNotActive,
    BeneficiaryPaused,
    CardLocked,
    CardNotValid,
    NoUsableVoucher,
    OutOfProvince,
    PinIncorrect,
    PinRequired,
    ProviderNotApproved,
    TokenExpired,
    TokenInvalid,
    TokenUsed,
    VisitRequired,
    VisitsUsedUp,
    VoucherExhausted,
)
from services.voucher.repository import codes as card_repo
from services.voucher.repository import redemption as repo
from services.voucher.repository.redemption import Candidate, Diagnosis, Lines
from services.voucher.service import codes, visits
from services.voucher.service.directory import ProviderDirectory, ProviderEntry
from services.voucher.service.lifecycle_rules import in_window
from services.voucher.service.pricing import Bill, ItemAsked, price_bill, request_hash
from services.voucher.service.redemption import (
    Split,
    VoucherState,
    check_spend_area,
    compute_split,
    local_day,
    used_today,
)


@dataclass(frozen=True)
class BillAsked:
    """What the terminal says was sold: items with quantities (and, for a variable-price
    item, its price), and the total it expects, if it sent one. `single`: it used the
    single-item form (`service_code`, `quantity`)."""

    items: tuple[ItemAsked, ...]
    gross_fen: int | None = None
    single: bool = False
    # The completed home visit a home-visit item was delivered in (service/visits.py).
    visit_id: uuid.UUID | None = None

    @classmethod
    def one(
        cls,
        service_code: str,
        gross_fen: int | None = None,
        quantity: int = 1,
        visit_id: uuid.UUID | None = None,
    ) -> BillAsked:
        return cls((ItemAsked(service_code, quantity),), gross_fen, single=True, visit_id=visit_id)


@dataclass(frozen=True)
class RedeemRequest:
    token: str
    bill: BillAsked
    idempotency_key: str
    pin: str | None = None
    staff_id: str | None = None  # who at the terminal (carried to the ledger)


@dataclass(frozen=True)
class RedeemResult:
    id: str
    voucher_id: str
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    gross_fen: int
    replayed: bool = False


@dataclass(frozen=True)
class PreviewResult:
    voucher_id: str
    program_code: str
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    bill: Bill
    # When the code shown expires (None for a card): the cashier's countdown, also for a
    # code typed as its short digits (which stand for this token and expire with it).
    code_expires_at: datetime | None = None
    # Whose code it is, masked (张**): the cashier can ask "are you 张…?" before confirming.
    beneficiary_name_masked: str = ""


def _replay(diagnosis: Diagnosis, digest: bytes) -> RedeemResult | None:
    """The original answer for a repeated idempotency key, 409 if the body differs."""
    earlier = diagnosis.earlier
    if earlier is None:
        return None
    if earlier.request_hash != digest:
        raise IdempotencyKeyReused(field="idempotency_key")
    return RedeemResult(
        str(earlier.id),
        str(earlier.voucher_id),
        earlier.subsidy_fen,
        earlier.copay_fen,
        earlier.balance_fen,
        earlier.gross_fen,
        replayed=True,
    )


async def _diagnosis(
    db: Database,
    provider_id: str,
    provider: ProviderEntry | None,
    categories: list[str],
    token: codes.Token,
    idempotency_key: str | None,
    now: datetime,
    visit_id: uuid.UUID | None = None,
) -> Diagnosis:
    return await repo.diagnose(
        _statements(db),
        provider_id=provider_id,
        idempotency_key=idempotency_key,
        nonce=token.nonce if token.kind == codes.KIND_DYNAMIC else None,
        beneficiary_id=token.beneficiary_id,
        provider_kind=provider.kind if provider is not None else "",
        categories=categories,
        now=now,
        provider_region=provider.region_code if provider is not None else None,
        names_visit=visit_id is not None,
    )


async def _check_card(
    db: Database, token: codes.Token, pin: str | None, now: datetime
) -> uuid.UUID:
    """A card's PIN, counted: five wrong PINs lock the card. Each write commits on its own
    (the slow PIN hash is computed outside any transaction), so a refusal keeps the count."""
    async with db.unit_of_work() as session:
        card = await card_repo.card_by_nonce(session, token.nonce)
    if card is None or card.status == "replaced" or card.beneficiary_id != token.beneficiary_id:
        raise CardNotValid(field="token")
    if card.status == "locked":
        raise CardLocked(field="pin")
    if pin is None:
        raise PinRequired(field="pin")
    if not codes.pin_matches(pin, bytes(card.pin_salt), bytes(card.pin_hash)):
        async with db.unit_of_work() as session:
            after = await card_repo.record_failure(session, card.id, now, codes.MAX_PIN_ATTEMPTS)
        if after is None or after.status == "locked":
            raise CardLocked(field="pin")
        left = codes.MAX_PIN_ATTEMPTS - after.failed_attempts
        raise PinIncorrect(field="pin", details={"attempts_left": left})
    if card.failed_attempts:
        async with db.unit_of_work() as session:
            await card_repo.reset_failures(session, card.id)
    return card.id


# A home visit's check-in and check-out check a card the same way (service/visits.py).
check_card = _check_card


async def _check_visit(
    db: Database,
    asked: BillAsked,
    bill: Bill,
    provider_id: str,
    token: codes.Token,
    *,
    include_used: bool,
) -> None:
    """Only when the bill holds a home-visit item (or names a visit): the visit must be
    completed, this person's at this provider, and long enough (VISIT_REQUIRED). Every other
    bill pays nothing for this."""
    if not bill.needs_visit and asked.visit_id is None:
        return
    await visits.check_billable(
        db,
        visit_id=asked.visit_id,
        provider_id=provider_id,
        beneficiary_id=token.beneficiary_id,
        min_minutes=bill.visit_minutes,
        needed=bill.needs_visit,
        include_used=include_used,
    )


def _provider_and_bill(
    directory: ProviderDirectory, provider_id: str, asked: BillAsked
) -> tuple[ProviderEntry, Bill]:
    """The provider (approved) and the bill priced from its price list as the directory
    delivered it (service/pricing.py: SERVICE_NOT_OFFERED, BILL_MISMATCH, ...)."""
    provider = directory.provider(provider_id)
    if provider is None or not provider.approved:
        raise ProviderNotApproved(field="provider_id")
    bill = price_bill(
        provider.services,
        asked.items,
        gross_fen=asked.gross_fen,
        price_list_version=provider.price_list_version,
        single=asked.single,
    )
    return provider, bill


def _explain(diagnosis: Diagnosis, provider: ProviderEntry, now: datetime) -> Candidate:
    """The voucher the redemption statement would use, or the refusal that explains why
    there is none (person deceased, in hospital today or otherwise not active, no usable
    voucher, out of area, exhausted)."""
    if diagnosis.person_status is None:
        raise TokenInvalid(field="token")
    if diagnosis.person_status == "deceased":
        raise BeneficiaryDeceased()
    if diagnosis.person_status != "active":
        raise BeneficiaryNotActive()
    if in_window(diagnosis.paused_from, diagnosis.paused_until, local_day(now)):
        raise BeneficiaryPaused()
    voucher = diagnosis.voucher
    if voucher is None:
        raise NoUsableVoucher()
    check_spend_area(voucher.spend_region_prefix, provider.region_code)
    if voucher.status == "exhausted":
        raise VisitsUsedUp() if voucher.visits_left == 0 else VoucherExhausted()
    return voucher


def _split(voucher: Candidate, gross_fen: int, provider: ProviderEntry, now: datetime) -> Split:
    count, fen = used_today(
        voucher.day_on, voucher.day_count, voucher.day_subsidy_fen, local_day(now)
    )
    return compute_split(
        VoucherState(
            balance_fen=voucher.balance_fen,
            ratio_bp=voucher.ratio_bp,
            per_use_fen=voucher.per_use_fen,
            per_txn_cap_fen=voucher.per_txn_cap_fen,
            day_cap_fen=voucher.day_cap_fen,
            day_limit_count=voucher.day_limit_count,
            used_count_today=count,
            used_fen_today=fen,
            spend_region_prefix=voucher.spend_region_prefix,
            visits_left=voucher.visits_left,
        ),
        gross_fen,
        provider.region_code,
    )


async def preview(
    db: Database,
    directory: ProviderDirectory,
    *,
    provider_id: str,
    token_text: str,
    bill: BillAsked,
    pin: str | None,
    qr_public_key: str,
    now: datetime | None = None,
) -> PreviewResult:
    """What `redeem` would answer now for this bill, without redeeming (SPEC: the staff see
    the subsidy and the co-payment before confirming).

    The same checks in the same order (token signature and expiry, nonce not used yet;
    provider approved, the bill priced from its price list; card PIN; person active;
    voucher, area, balance, limits) and the same rule on the voucher the statement would
    lock, but only reads: the
    nonce is not consumed and nothing is written. A card's wrong PIN still counts towards
    its lock, exactly as in a redemption, so a preview is no way round the PIN limit.
    """
    now = now or datetime.now(UTC)
    token = codes.verify_token(qr_public_key, token_text, now)
    ensure_in_province(token)
    provider, priced = _provider_and_bill(directory, provider_id, bill)
    await _check_visit(db, bill, priced, provider_id, token, include_used=True)
    if token.kind == codes.KIND_CARD:
        await _check_card(db, token, pin, now)
    diagnosis = await _diagnosis(
        db, provider_id, provider, priced.categories, token, None, now, bill.visit_id
    )
    if diagnosis.nonce_used:
        raise TokenUsed(field="token")
    voucher = _explain(diagnosis, provider, now)
    split = _split(voucher, priced.gross_fen, provider, now)
    return PreviewResult(
        str(voucher.id),
        voucher.program_code,
        split.subsidy_fen,
        split.copay_fen,
        split.balance_after_fen,
        priced,
        token.expires_at,
        mask_name(diagnosis.person_name or ""),
    )


def ensure_in_province(token: codes.Token) -> None:
    """A code of a person of another province than the one served (sharded services,
    docs/shards.md) is refused OUT_OF_PROVINCE before anything is read or written. Without
    shards: one context-variable read."""
    if not same_province(token.beneficiary_id):
        raise OutOfProvince(field="token")


def _statements(db: Database) -> StatementPool:
    if db.statements is None:
        raise ServiceUnavailable("The redemption pool is not running.")
    return db.statements


async def redeem(
    db: Database,
    directory: ProviderDirectory,
    *,
    provider_id: str,
    terminal_id: str | None,
    req: RedeemRequest,
    qr_public_key: str,
    now: datetime | None = None,
) -> RedeemResult:
    """Redeem a scanned code at a provider's terminal (SPEC: "Redemption").

    Checks the token (signature, expiry; card: PIN), the provider (approved), prices the
    bill from the provider's price list (service/pricing.py), then runs the one statement.
    On the happy path that is the only round trip; when it pays nothing, the cold path finds
    the exact reason.
    """
    pool = _statements(db)
    now = now or datetime.now(UTC)
    asked = req.bill
    digest = request_hash(
        req.token, asked.items, asked.gross_fen, single=asked.single, visit_id=asked.visit_id
    )
    try:
        token = codes.verify_token(qr_public_key, req.token, now)
    except TokenExpired:
        # A client retrying after the code expired still gets its original answer.
        expired = codes.verify_token(qr_public_key, req.token, check_expiry=False)
        replay = _replay(
            await _diagnosis(db, provider_id, None, [], expired, req.idempotency_key, now), digest
        )
        if replay is not None:
            return replay
        raise
    ensure_in_province(token)
    provider, bill = _provider_and_bill(directory, provider_id, asked)
    await _check_visit(db, asked, bill, provider_id, token, include_used=False)
    lines = Lines(
        [line.service_code for line in bill.lines],
        bill.categories,
        [line.quantity for line in bill.lines],
        [line.unit_price_fen for line in bill.lines],
    )
    card_id = None
    if token.kind == codes.KIND_CARD:
        replay = _replay(
            await _diagnosis(
                db, provider_id, provider, bill.categories, token, req.idempotency_key, now
            ),
            digest,
        )
        if replay is not None:
            return replay
        card_id = await _check_card(db, token, req.pin, now)
    today = local_day(now)
    for _attempt in range(3):
        try:
            done = await repo.redeem(
                pool,
                beneficiary_id=token.beneficiary_id,
                nonce=token.nonce if token.kind == codes.KIND_DYNAMIC else None,
                nonce_expires_at=token.expires_at,
                provider_kind=provider.kind,
                lines=lines,
                gross_fen=bill.gross_fen,
                price_list_version=bill.price_list_version,
                today=today,
                now=now,
                redemption_id=new_uuid(),
                event_id=new_uuid(),
                provider_id=provider_id,
                terminal_id=terminal_id,
                staff_id=req.staff_id,
                idempotency_key=req.idempotency_key,
                request_hash=digest,
                card_id=card_id,
                provider_region=provider.region_code,
                visit_id=asked.visit_id,
            )
        except asyncpg.UniqueViolationError:
            done = None
        if done is not None:
            return RedeemResult(
                str(done.id),
                str(done.voucher_id),
                done.subsidy_fen,
                done.copay_fen,
                done.balance_fen,
                bill.gross_fen,
            )
        diagnosis = await _diagnosis(
            db,
            provider_id,
            provider,
            bill.categories,
            token,
            req.idempotency_key,
            now,
            asked.visit_id,
        )
        # Not a repeated request, and another live redemption bills this visit
        # (uq_redemption_visit): that is why the statement paid nothing.
        if (
            asked.visit_id is not None
            and _replay(diagnosis, digest) is None
            and await visits.in_use(db, asked.visit_id)
        ):
            raise VisitRequired(
                field="visit_id",
                details={"min_minutes": bill.visit_minutes, "reason": "used"},
            )
        replay = _diagnose(
            diagnosis,
            provider,
            token,
            bill,
            digest,
            now,
        )
        if replay is not None:
            return replay
        # _diagnose found nothing wrong: the state moved under us (a void, a day change);
        # the statement is safe to run again.
    raise RetryLater("The voucher changed during the redemption; retry.")


def _diagnose(
    diagnosis: Diagnosis,
    provider: ProviderEntry,
    token: codes.Token,
    bill: Bill,
    digest: bytes,
    now: datetime,
) -> RedeemResult | None:
    """Why the statement paid nothing: raise the exact refusal, or return the original
    answer of a repeated request; None when nothing is wrong any more."""
    replay = _replay(diagnosis, digest)
    if replay is not None:
        return replay
    if token.kind == codes.KIND_DYNAMIC and diagnosis.nonce_used:
        raise TokenUsed(field="token")
    voucher = _explain(diagnosis, provider, now)
    _split(voucher, bill.gross_fen, provider, now)
    return None
