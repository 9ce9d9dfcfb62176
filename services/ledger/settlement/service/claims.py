"""Claims: a provider claims a period; a finance officer who did not prepare it approves.

Rules (docs/settlement.md; the pure ones in claim_rules.py):
- A claim line is a redemption posted to the ledger for the provider, in the period, not
  reversed (voided), and in no other live claim. Asked-for lines that fail any of these are
  refused, each named with its problem; nothing is written then.
- The voucher service is the authority on voids. A claim is first written `pending` (its
  lines then belong to it, so no concurrent claim can take them), then the voucher service
  is asked to mark the redemptions claimed (after which it refuses to void them). If it says
  some were voided meanwhile (a void that raced the claim), those lines leave the claim
  before it is submitted; a claim never holds a redemption the voucher side has voided.
  A failure between the steps leaves the claim pending; the next request for that provider
  and period (or the same idempotency key) resumes it.
- Maker-checker: approval (or rejection) by finance covering the claim's region(s), who is
  not the one who prepared, submitted, resubmitted or edited it (also a CHECK in the database).
- The claim also carries the provider's online co-payments of the period, net of refunds,
  as its co-payment part (`copay_fen`; rule in copay.py): every unclaimed online co-payment
  entry of the period, as long as the claim's total stays above zero (net refunds wait for
  a claim with enough to set them against). `total_fen = subsidy_fen + copay_fen` is what
  the payment line pays.

Preparing and deciding retry on serialisation failures, one unit of work per attempt; the
voucher service is called between units of work, never inside one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import Database, retry_transaction
from services.common.errors import IdempotencyKeyReused
from services.common.ids import new_uuid
from services.ledger.service import hashing
from services.ledger.service.clock import iso as _iso
from services.ledger.settlement.clients import ClaimAnswer, VoucherClient
from services.ledger.settlement.errors import (
    ClaimLinesRefused,
    ClaimNotFound,
    ClaimStatusConflict,
    MakerChecker,
    NothingToClaim,
)
from services.ledger.settlement.models import Claim, ClaimAction
from services.ledger.settlement.repository import claims as repo
from services.ledger.settlement.repository import copay as copay_repo
from services.ledger.settlement.repository import recoveries as recoveries_repo
from services.ledger.settlement.repository.claims import (
    ClaimableRedemption,
    ClaimedRedemption,
    RedemptionFact,
)
from services.ledger.settlement.repository.copay import CopayEntry
from services.ledger.settlement.repository.recoveries import RecoveryEntry
from services.ledger.settlement.schemas import (
    ClaimableRead,
    ClaimActionRead,
    ClaimCopaymentRead,
    ClaimCreate,
    ClaimRead,
    ClaimRecoveryRead,
    ClaimRedemptionRead,
    ClaimSummary,
)
from services.ledger.settlement.service.claim_rules import (
    copays_to_take,
    line_problem,
    may_list,
    preparers,
    recoveries_to_take,
)

# What the voucher service's refusal of a whole claim means for its lines.
VOUCHER_PROBLEMS = {
    "REDEMPTION_VOIDED": "VOIDED",
    "REDEMPTION_RECOVERED": "RECOVERED",
    "REDEMPTION_DISPUTED": "DISPUTED",
    "REDEMPTION_ALREADY_CLAIMED": "ALREADY_CLAIMED",
}
MARK_ATTEMPTS = 5


async def claimable(session: AsyncSession, provider_id: str, period: str) -> ClaimableRead:
    """What the provider could claim for the period now, with the total."""
    rows = await repo.claimable(session, provider_id, period)
    copays = copays_to_take(rows, await copay_repo.claimable(session, provider_id, period))
    subsidy = sum(r.amount_fen for r in rows)
    copay = sum(c.amount_fen for c in copays)
    return ClaimableRead(
        provider_id=provider_id,
        period=period,
        total_fen=subsidy + copay,
        subsidy_fen=subsidy,
        copay_fen=copay,
        count=len(rows),
        redemptions=[_line(r) for r in rows],
        copayments=[_copay_line(c) for c in copays],
    )


def recovery_line(r: RecoveryEntry) -> ClaimRecoveryRead:
    return ClaimRecoveryRead(
        redemption_id=r.redemption_id,
        entry_id=str(r.entry_id),
        amount_fen=r.amount_fen,
        posted_at=_iso(r.posted_at) or "",
        memo=r.memo,
    )


def _copay_line(c: CopayEntry) -> ClaimCopaymentRead:
    return ClaimCopaymentRead(
        copayment_id=c.copayment_id,
        entry_id=str(c.entry_id),
        kind=c.kind,
        amount_fen=c.amount_fen,
        redemption_id=c.redemption_id,
        posted_at=_iso(c.posted_at) or "",
    )


def _line(r: ClaimableRedemption | ClaimedRedemption) -> ClaimRedemptionRead:
    return ClaimRedemptionRead(
        redemption_id=r.redemption_id,
        entry_id=str(r.entry_id),
        amount_fen=r.amount_fen,
        posted_at=_iso(r.posted_at) or "",
        voucher_id=r.voucher_id,
        beneficiary_id=r.beneficiary_id,
    )


async def create_claim(
    db: Database, voucher: VoucherClient, req: ClaimCreate, who: Principal
) -> ClaimRead:
    """Prepare, mark on the voucher side, and submit a claim (see the module docstring)."""
    body = req.model_dump(mode="json", exclude={"idempotency_key"})
    fingerprint = hashing.request_hash("claim", body)

    async def prepare() -> tuple[uuid.UUID, bool]:
        async with db.unit_of_work() as session:
            return await _prepare(session, req, who, fingerprint)

    claim_id, done = await retry_transaction(prepare)
    if not done:
        await _mark_and_submit(db, voucher, claim_id, who, strict=req.redemption_ids is not None)
    async with db.unit_of_work() as session:
        return await read_claim(session, claim_id)


async def _prepare(
    session: AsyncSession, req: ClaimCreate, who: Principal, fingerprint: bytes
) -> tuple[uuid.UUID, bool]:
    """The claim's id, and whether it is already past pending (an idempotent replay)."""
    await repo.lock_provider(session, req.provider_id)
    if req.idempotency_key:
        old = await repo.claim_by_key(session, req.idempotency_key)
        if old is not None:
            if bytes(old.request_hash or b"") != fingerprint:
                raise IdempotencyKeyReused(field="idempotency_key")
            return old.id, old.status != "pending"
    unclaimed = await copay_repo.claimable(session, req.provider_id, req.period)
    lines: list[ClaimableRedemption] | list[RedemptionFact]
    if req.redemption_ids is None:
        resumed = await repo.pending_claim(session, req.provider_id, req.period)
        if resumed is not None:
            return resumed.id, False
        lines = await repo.claimable(session, req.provider_id, req.period)
        if not lines and not copays_to_take(lines, unclaimed):
            raise NothingToClaim(field="period")
    else:
        facts = await repo.redemption_facts(session, list(dict.fromkeys(req.redemption_ids)))
        refused = [
            {"redemption_id": f.redemption_id, "problem": problem}
            for f in facts
            if (problem := line_problem(f, req.provider_id, req.period))
        ]
        if refused:
            raise ClaimLinesRefused(field="redemption_ids", details={"lines": refused})
        lines = facts
    copays = copays_to_take(lines, unclaimed)
    owed_back = recoveries_to_take(
        sum(r.amount_fen for r in lines) + sum(c.amount_fen for c in copays),
        await recoveries_repo.claimable(session, req.provider_id),
    )
    claim_id = new_uuid()
    await repo.insert_claim(
        session,
        claim_id=claim_id,
        provider_id=req.provider_id,
        period=req.period,
        region_codes=sorted({r.region_code for r in [*lines, *copays] if r.region_code}),
        idempotency_key=req.idempotency_key,
        request_hash=fingerprint,
        submitted_by=who.sub,
        lines=lines,
        copay_fen=sum(c.amount_fen for c in copays),
        recovered_fen=sum(r.amount_fen for r in owed_back),
    )
    await copay_repo.insert_lines(session, claim_id, copays)
    await recoveries_repo.insert_lines(session, claim_id, owed_back)
    await repo.add_action(session, claim_id, "prepare", who.sub, who.role.value, req.comment)
    return claim_id, False


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The voucher service refused the claim as a whole: it was abandoned, these ids refused."""

    refused: list[str]
    code: str | None


async def _mark_and_submit(
    db: Database, voucher: VoucherClient, claim_id: uuid.UUID, who: Principal, *, strict: bool
) -> None:
    for _ in range(MARK_ATTEMPTS):
        async with db.unit_of_work() as session:
            ids = [r.redemption_id for r in await repo.lines(session, claim_id)]
        answer = await voucher.claim(str(claim_id), ids) if ids else None
        async with db.unit_of_work() as session:
            outcome = await _settle_answer(session, claim_id, who, ids, answer, strict=strict)
        if outcome == "retry":
            continue
        if not isinstance(outcome, Abandoned):
            return
        if not outcome.refused:
            raise NothingToClaim(field="period")
        problem = VOUCHER_PROBLEMS.get(outcome.code or "", "NOT_POSTED")
        raise ClaimLinesRefused(
            field="redemption_ids",
            details={"lines": [{"redemption_id": i, "problem": problem} for i in outcome.refused]},
        )
    raise ClaimStatusConflict(
        "The claim could not be settled with the voucher service; retry.", field="redemption_ids"
    )


async def _settle_answer(
    session: AsyncSession,
    claim_id: uuid.UUID,
    who: Principal,
    ids: list[str],
    answer: ClaimAnswer | None,
    *,
    strict: bool,
) -> Literal["submitted", "retry"] | Abandoned:
    """Apply the voucher service's answer to the pending claim: `submitted` (or finished by
    a concurrent retry), `retry` when refused lines left it and the rest must be marked
    again, or Abandoned."""
    claim = await repo.get_claim(session, claim_id, lock=True)
    if claim is None or claim.status != "pending":
        return "submitted"  # a concurrent retry finished it
    if (answer is not None and answer.ok) or (answer is None and claim.total_fen > 0):
        # (no redemption lines: a claim of co-payments only, nothing to mark)
        await repo.set_status(session, claim_id, "submitted")
        await repo.add_action(session, claim_id, "submit", who.sub, who.role.value)
        return "submitted"
    refused = list(answer.refused) if answer is not None else []
    if strict or not refused or set(refused) >= set(ids):
        # Abandoned: every line it held is let go, so those redemptions and co-payments can
        # be claimed again (the lines stay, inactive, as a record).
        await copay_repo.release_lines(session, claim_id)
        await recoveries_repo.release_lines(session, claim_id)
        await repo.drop_lines(session, claim_id, ids)
        await repo.set_status(session, claim_id, "abandoned")
        await repo.add_action(
            session,
            claim_id,
            "abandon",
            who.sub,
            who.role.value,
            answer.code if answer else "NO_LINES",
        )
        return Abandoned(refused, answer.code if answer else None)
    await repo.drop_lines(session, claim_id, refused)
    return "retry"


async def read_claim(session: AsyncSession, claim_id: uuid.UUID) -> ClaimRead:
    claim = await repo.get_claim(session, claim_id)
    if claim is None:
        raise ClaimNotFound(field="claim_id")
    lines = await repo.lines(session, claim_id)
    copays = await copay_repo.lines(session, claim_id)
    owed_back = await recoveries_repo.lines(session, claim_id)
    history = await repo.actions(session, claim_id)
    return ClaimRead(
        **_summary(claim).model_dump(exclude={"region_codes"}),
        region_codes=list(claim.region_codes),
        redemptions=[_line(r) for r in lines],
        copayments=[_copay_line(c) for c in copays],
        recoveries=[recovery_line(r) for r in owed_back],
        history=[_action(h) for h in history],
    )


def _action(h: ClaimAction) -> ClaimActionRead:
    return ClaimActionRead(
        action=h.action,
        actor=h.actor,
        role=h.role,
        comment=h.comment,
        reasons=h.reasons,
        at=_iso(h.at) or "",
    )


def _summary(c: Claim) -> ClaimSummary:
    return ClaimSummary(
        id=str(c.id),
        provider_id=c.provider_id,
        period=c.period,
        status=c.status,
        total_fen=c.total_fen,
        subsidy_fen=c.subsidy_fen,
        copay_fen=c.copay_fen,
        recovered_fen=c.recovered_fen,
        count=c.line_count,
        region_codes=list(c.region_codes),
        submitted_by=c.submitted_by,
        submitted_at=_iso(c.submitted_at),
        approved_by=c.approved_by,
        approved_at=_iso(c.approved_at),
    )


async def claim_for(session: AsyncSession, claim_id: uuid.UUID) -> Claim:
    claim = await repo.get_claim(session, claim_id)
    if claim is None:
        raise ClaimNotFound(field="claim_id")
    return claim


async def decide(
    db: Database,
    claim_id: uuid.UUID,
    who: Principal,
    *,
    approve: bool,
    comment: str | None,
    reasons: list[str] | None = None,
) -> ClaimRead:
    """Approve or reject a submitted claim (maker-checker). Approving again by the same
    officer answers the same; any other decision on a decided claim is CLAIM_STATUS_CONFLICT."""

    async def attempt() -> None:
        async with db.unit_of_work() as session:
            claim = await repo.get_claim(session, claim_id, lock=True)
            if claim is None:
                raise ClaimNotFound(field="claim_id")
            for region in claim.region_codes:
                who.ensure_region(region)
            if who.sub in preparers(claim, await repo.actions(session, claim_id)):
                raise MakerChecker(field="claim_id")
            if approve and claim.status == "approved" and claim.approved_by == who.sub:
                return
            if claim.status != "submitted":
                raise ClaimStatusConflict(
                    f"The claim is {claim.status}.",
                    field="claim_id",
                    details={"status": claim.status},
                )
            await repo.set_status(session, claim_id, "approved" if approve else "rejected", who.sub)
            await repo.add_action(
                session,
                claim_id,
                "approve" if approve else "reject",
                who.sub,
                who.role.value,
                comment,
                reasons,
            )

    await retry_transaction(attempt)
    async with db.unit_of_work() as session:
        return await read_claim(session, claim_id)


async def resubmit(
    session: AsyncSession, claim_id: uuid.UUID, who: Principal, comment: str | None
) -> ClaimRead:
    """A rejected claim goes back to finance after the provider has looked at the reasons."""
    claim = await repo.get_claim(session, claim_id, lock=True)
    if claim is None or claim.provider_id != who.provider_id:
        raise ClaimNotFound(field="claim_id")
    if claim.status != "rejected":
        raise ClaimStatusConflict(
            f"The claim is {claim.status}.",
            field="claim_id",
            details={"status": claim.status},
        )
    await repo.set_status(session, claim_id, "submitted")
    await repo.add_action(session, claim_id, "resubmit", who.sub, who.role.value, comment)
    return await read_claim(session, claim_id)


async def list_claims(
    session: AsyncSession,
    who: Principal,
    *,
    provider_id: str | None,
    status: str | None,
    period: str | None,
    limit: int,
) -> list[ClaimSummary]:
    """Claims the caller may see (a provider its own; finance/auditor those whose regions
    they cover), newest first, without their lines."""
    rows = await repo.list_claims(
        session, provider_id=provider_id, status=status, period=period, limit=limit
    )
    return [_summary(c) for c in rows if may_list(who, c)]
