"""Claims: a provider claims a period; a finance officer who did not prepare it approves.

Rules (docs/settlement.md):
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
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.common.auth import Principal
from services.common.db import retry_transaction
from services.common.errors import IdempotencyKeyReused
from services.common.ids import new_uuid
from services.ledger import hashing
from services.ledger.settlement import copay_repository as copay_repo
from services.ledger.settlement import repository as repo
from services.ledger.settlement.clients import VoucherClient
from services.ledger.settlement.errors import (
    ClaimLinesRefused,
    ClaimNotFound,
    ClaimStatusConflict,
    MakerChecker,
    NothingToClaim,
)
from services.ledger.settlement.schemas import ClaimCreate

PREPARING_ACTIONS = ("prepare", "submit", "resubmit", "edit")


def line_problem(fact: asyncpg.Record, provider_id: str, period: str) -> str | None:
    """Why a redemption cannot be claimed by this provider for this period (None: it can)."""
    if fact["entry_id"] is None or fact["provider_id"] != provider_id:
        return "NOT_POSTED"  # another provider's redemption is not confirmed to exist
    if fact["reversed"]:
        return "VOIDED"
    if fact["claim_id"] is not None:
        return "ALREADY_CLAIMED"
    if fact["period"] != period:
        return "OTHER_PERIOD"
    return None


async def claimable(pool: asyncpg.Pool, provider_id: str, period: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await repo.claimable(conn, provider_id, period)
        copays = _copays_to_take(rows, await copay_repo.claimable(conn, provider_id, period))
    subsidy = sum(int(r["amount_fen"]) for r in rows)
    copay = sum(int(r["amount_fen"]) for r in copays)
    return {
        "provider_id": provider_id,
        "period": period,
        "total_fen": subsidy + copay,
        "subsidy_fen": subsidy,
        "copay_fen": copay,
        "count": len(rows),
        "redemptions": [_line(r) for r in rows],
        "copayments": [_copay_line(r) for r in copays],
    }


def _copays_to_take(
    lines: list[asyncpg.Record], copays: list[asyncpg.Record]
) -> list[asyncpg.Record]:
    """All the unclaimed online co-payment entries, if the claim's total stays above zero
    with them; otherwise none (net refunds wait for a later claim)."""
    total = sum(int(r["amount_fen"]) for r in lines) + sum(int(r["amount_fen"]) for r in copays)
    return list(copays) if copays and total > 0 else []


def _copay_line(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "copayment_id": r["copayment_id"],
        "entry_id": str(r["entry_id"]),
        "kind": r["kind"],
        "amount_fen": int(r["amount_fen"]),
        "redemption_id": r["redemption_id"],
        "posted_at": r["posted_at"].isoformat(),
    }


def _line(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "redemption_id": r["redemption_id"],
        "entry_id": str(r["entry_id"]),
        "amount_fen": int(r["amount_fen"]),
        "posted_at": r["posted_at"].isoformat(),
        "voucher_id": r["voucher_id"],
        "beneficiary_id": r["beneficiary_id"],
    }


async def create_claim(
    pool: asyncpg.Pool, voucher: VoucherClient, req: ClaimCreate, who: Principal
) -> tuple[int, dict[str, Any]]:
    """Prepare, mark on the voucher side, and submit a claim (see the module docstring)."""
    body = req.model_dump(mode="json", exclude={"idempotency_key"})
    fingerprint = hashing.request_hash("claim", body)

    async def prepare() -> tuple[uuid.UUID, bool]:
        async with pool.acquire() as conn, conn.transaction():
            await repo.lock_provider(conn, req.provider_id)
            if req.idempotency_key:
                old = await repo.claim_by_key(conn, req.idempotency_key)
                if old is not None:
                    if bytes(old["request_hash"]) != fingerprint:
                        raise IdempotencyKeyReused(field="idempotency_key")
                    return old["id"], old["status"] != "pending"
            copays = await copay_repo.claimable(conn, req.provider_id, req.period)
            if req.redemption_ids is None:
                resumed = await repo.pending_claim(conn, req.provider_id, req.period)
                if resumed is not None:
                    return resumed["id"], False
                lines = await repo.claimable(conn, req.provider_id, req.period)
                if not lines and not _copays_to_take(lines, copays):
                    raise NothingToClaim(field="period")
            else:
                ids = list(dict.fromkeys(req.redemption_ids))
                facts = await repo.redemption_facts(conn, ids)
                refused = [
                    {"redemption_id": f["redemption_id"], "problem": problem}
                    for f in facts
                    if (problem := line_problem(f, req.provider_id, req.period))
                ]
                if refused:
                    raise ClaimLinesRefused(field="redemption_ids", details={"lines": refused})
                lines = facts
            copays = _copays_to_take(lines, copays)
            claim_id = new_uuid()
            await repo.insert_claim(
                conn,
                claim_id=claim_id,
                provider_id=req.provider_id,
                period=req.period,
                region_codes=sorted({r["region_code"] for r in [*lines, *copays]}),
                idempotency_key=req.idempotency_key,
                request_hash=fingerprint,
                submitted_by=who.sub,
                lines=lines,
                copay_fen=sum(int(r["amount_fen"]) for r in copays),
            )
            if copays:
                await copay_repo.insert_lines(conn, claim_id, copays)
            await repo.add_action(conn, claim_id, "prepare", who.sub, who.role.value, req.comment)
            return claim_id, False

    claim_id, done = await retry_transaction(prepare)
    if not done:
        await _mark_and_submit(pool, voucher, claim_id, who, strict=req.redemption_ids is not None)
    return 201, await read_claim(pool, claim_id)


async def _mark_and_submit(
    pool: asyncpg.Pool, voucher: VoucherClient, claim_id: uuid.UUID, who: Principal, *, strict: bool
) -> None:
    for _ in range(5):
        async with pool.acquire() as conn:
            ids = [r["redemption_id"] for r in await repo.lines(conn, claim_id)]
        answer = await voucher.claim(str(claim_id), ids) if ids else None
        async with pool.acquire() as conn, conn.transaction():
            claim = await repo.get_claim(conn, claim_id, lock=True)
            if claim["status"] != "pending":
                return  # a concurrent retry finished it
            if (answer is not None and answer.ok) or (answer is None and claim["total_fen"] > 0):
                # (no redemption lines: a claim of co-payments only, nothing to mark)
                await repo.set_status(conn, claim_id, "submitted")
                await repo.add_action(conn, claim_id, "submit", who.sub, who.role.value)
                return
            refused = list(answer.refused) if answer is not None else []
            if strict or not refused or set(refused) >= set(ids):
                # Abandoned: every line it held is let go, so those redemptions and
                # co-payments can be claimed again (the lines stay, inactive, as a record).
                await copay_repo.release_lines(conn, claim_id)
                await repo.drop_lines(conn, claim_id, ids)
                await repo.set_status(conn, claim_id, "abandoned")
                await repo.add_action(
                    conn,
                    claim_id,
                    "abandon",
                    who.sub,
                    who.role.value,
                    answer.code if answer else "NO_LINES",
                )
                problem = {
                    "REDEMPTION_VOIDED": "VOIDED",
                    "REDEMPTION_ALREADY_CLAIMED": "ALREADY_CLAIMED",
                }.get(answer.code if answer else "", "NOT_POSTED")
                abandoned = True
            else:
                await repo.drop_lines(conn, claim_id, refused)
                abandoned = False
        if abandoned:
            if not refused:
                raise NothingToClaim(field="period")
            raise ClaimLinesRefused(
                field="redemption_ids",
                details={"lines": [{"redemption_id": i, "problem": problem} for i in refused]},
            )
    raise ClaimStatusConflict(
        "The claim could not be settled with the voucher service; retry.", field="redemption_ids"
    )


async def read_claim(pool: asyncpg.Pool, claim_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        claim = await repo.get_claim(conn, claim_id)
        if claim is None:
            raise ClaimNotFound(field="claim_id")
        lines = await repo.lines(conn, claim_id)
        copays = await copay_repo.lines(conn, claim_id)
        history = await repo.actions(conn, claim_id)
    return {
        "id": str(claim["id"]),
        "provider_id": claim["provider_id"],
        "period": claim["period"],
        "region_codes": list(claim["region_codes"]),
        "status": claim["status"],
        "total_fen": int(claim["total_fen"]),
        "subsidy_fen": int(claim["subsidy_fen"]),
        "copay_fen": int(claim["copay_fen"]),
        "count": claim["line_count"],
        "submitted_by": claim["submitted_by"],
        "submitted_at": _iso(claim["submitted_at"]),
        "approved_by": claim["approved_by"],
        "approved_at": _iso(claim["approved_at"]),
        "redemptions": [_line(r) for r in lines],
        "copayments": [_copay_line(r) for r in copays],
        "history": [
            {
                "action": h["action"],
                "actor": h["actor"],
                "role": h["role"],
                "comment": h["comment"],
                "reasons": _json(h["reasons"]),
                "at": h["at"].isoformat(),
            }
            for h in history
        ],
    }


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None


def _json(v: Any) -> Any:
    import json

    return json.loads(v) if isinstance(v, str) else v


async def claim_for(pool: asyncpg.Pool, claim_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        claim = await repo.get_claim(conn, claim_id)
    if claim is None:
        raise ClaimNotFound(field="claim_id")
    return claim


def ensure_may_see(who: Principal, claim: asyncpg.Record) -> None:
    """The provider's own admin, or finance/auditor covering every region of the claim."""
    if who.role.value in ("provider_admin", "provider_staff"):
        if who.provider_id != claim["provider_id"]:
            raise ClaimNotFound(field="claim_id")  # another provider's claim is not confirmed
        return
    for region in claim["region_codes"]:
        who.ensure_region(region)


async def decide(
    pool: asyncpg.Pool,
    claim_id: uuid.UUID,
    who: Principal,
    *,
    approve: bool,
    comment: str | None,
    reasons: list[str] | None = None,
) -> dict[str, Any]:
    """Approve or reject a submitted claim (maker-checker). Approving again by the same
    officer answers the same; any other decision on a decided claim is CLAIM_STATUS_CONFLICT."""

    async def attempt() -> None:
        async with pool.acquire() as conn, conn.transaction():
            claim = await repo.get_claim(conn, claim_id, lock=True)
            if claim is None:
                raise ClaimNotFound(field="claim_id")
            for region in claim["region_codes"]:
                who.ensure_region(region)
            preparers = {
                h["actor"]
                for h in await repo.actions(conn, claim_id)
                if h["action"] in PREPARING_ACTIONS
            } | {claim["submitted_by"]}
            if who.sub in preparers:
                raise MakerChecker(field="claim_id")
            if approve and claim["status"] == "approved" and claim["approved_by"] == who.sub:
                return
            if claim["status"] != "submitted":
                raise ClaimStatusConflict(
                    f"The claim is {claim['status']}.",
                    field="claim_id",
                    details={"status": claim["status"]},
                )
            await repo.set_status(conn, claim_id, "approved" if approve else "rejected", who.sub)
            await repo.add_action(
                conn,
                claim_id,
                "approve" if approve else "reject",
                who.sub,
                who.role.value,
                comment,
                reasons,
            )

    await retry_transaction(attempt)
    return await read_claim(pool, claim_id)


async def resubmit(
    pool: asyncpg.Pool, claim_id: uuid.UUID, who: Principal, comment: str | None
) -> dict[str, Any]:
    """A rejected claim goes back to finance after the provider has looked at the reasons."""
    async with pool.acquire() as conn, conn.transaction():
        claim = await repo.get_claim(conn, claim_id, lock=True)
        if claim is None or claim["provider_id"] != who.provider_id:
            raise ClaimNotFound(field="claim_id")
        if claim["status"] != "rejected":
            raise ClaimStatusConflict(
                f"The claim is {claim['status']}.",
                field="claim_id",
                details={"status": claim["status"]},
            )
        await repo.set_status(conn, claim_id, "submitted")
        await repo.add_action(conn, claim_id, "resubmit", who.sub, who.role.value, comment)
    return await read_claim(pool, claim_id)


async def list_claims(
    pool: asyncpg.Pool,
    who: Principal,
    *,
    provider_id: str | None,
    status: str | None,
    period: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Claims the caller may see (a provider its own; finance/auditor those whose regions
    they cover), newest first, without their lines."""
    async with pool.acquire() as conn:
        rows = await repo.list_claims(
            conn, provider_id=provider_id, status=status, period=period, limit=limit
        )
    return [
        {
            "id": str(c["id"]),
            "provider_id": c["provider_id"],
            "period": c["period"],
            "status": c["status"],
            "total_fen": int(c["total_fen"]),
            "subsidy_fen": int(c["subsidy_fen"]),
            "copay_fen": int(c["copay_fen"]),
            "count": c["line_count"],
            "region_codes": list(c["region_codes"]),
            "submitted_by": c["submitted_by"],
            "submitted_at": _iso(c["submitted_at"]),
            "approved_by": c["approved_by"],
            "approved_at": _iso(c["approved_at"]),
        }
        for c in rows
        if all(who.covers_region(r) for r in c["region_codes"])
        or who.role.value == "provider_admin"
    ]
