"""The redemption, void and claim flows: checks, the one-statement hot path, the cold path.

The rule itself is in service/redemption.py (pure); the SQL in repository/redemption.py.
Everything here runs on the raw asyncpg pool: the redemption statement in autocommit (it
commits before the route returns), void and claim in short explicit transactions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from services.common.errors import AppError, IdempotencyKeyReused, NotFound
from services.common.ids import new_uuid
from services.voucher.directory import ProviderDirectory, ProviderEntry
from services.voucher.repository import codes as card_repo
from services.voucher.repository import redemption as repo
from services.voucher.service import codes, copay_refund
from services.voucher.service.redemption import (
    REFUSALS,
    VoucherState,
    check_spend_area,
    compute_split,
    local_day,
    may_void,
    refused,
    request_hash,
    used_today,
)


@dataclass(frozen=True)
class RedeemRequest:
    token: str
    service_code: str
    gross_fen: int
    idempotency_key: str
    pin: str | None = None


@dataclass(frozen=True)
class RedeemResult:
    id: str
    voucher_id: str
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    replayed: bool = False


def _result(row: Any, replayed: bool) -> RedeemResult:
    return RedeemResult(
        str(row["id"]),
        str(row["voucher_id"]),
        int(row["subsidy_fen"]),
        int(row["copay_fen"]),
        int(row["balance_fen"]),
        replayed,
    )


async def _replay(
    pool: asyncpg.Pool, provider_id: str, req: RedeemRequest, digest: bytes
) -> RedeemResult | None:
    """The original answer for a repeated idempotency key, 409 if the body differs."""
    row = await repo.by_idempotency_key(pool, provider_id, req.idempotency_key)
    if row is None:
        return None
    if bytes(row["request_hash"]) != digest:
        raise IdempotencyKeyReused(field="idempotency_key")
    return _result(row, replayed=True)


async def _check_card(
    pool: asyncpg.Pool, token: codes.Token, pin: str | None, now: datetime
) -> uuid.UUID:
    """A card's PIN, counted: five wrong PINs lock the card."""
    card = await card_repo.card_by_nonce(pool, token.nonce)
    if (
        card is None
        or card["status"] == "replaced"
        or card["beneficiary_id"] != token.beneficiary_id
    ):
        raise codes.CardNotValid(field="token")
    if card["status"] == "locked":
        raise codes.CardLocked(field="pin")
    if pin is None:
        raise codes.PinRequired(field="pin")
    if not codes.pin_matches(pin, bytes(card["pin_salt"]), bytes(card["pin_hash"])):
        after = await card_repo.record_failure(pool, card["id"], now)
        if after is None or after["status"] == "locked":
            raise codes.CardLocked(field="pin")
        left = codes.MAX_PIN_ATTEMPTS - after["failed_attempts"]
        raise codes.PinIncorrect(field="pin", details={"attempts_left": left})
    if card["failed_attempts"]:
        await card_repo.reset_failures(pool, card["id"])
    return card["id"]


@dataclass(frozen=True)
class PreviewResult:
    voucher_id: str
    program_code: str
    subsidy_fen: int
    copay_fen: int
    balance_fen: int


def _provider_and_item(
    directory: ProviderDirectory, provider_id: str, service_code: str
) -> tuple[ProviderEntry, Any]:
    provider = directory.provider(provider_id)
    if provider is None or not provider.approved:
        raise refused(
            "PROVIDER_NOT_APPROVED",
            REFUSALS["PROVIDER_NOT_APPROVED"],
            field="provider_id",
            status_code=403,
        )
    item = provider.services.get(service_code)
    if item is None:
        raise refused("SERVICE_NOT_OFFERED", REFUSALS["SERVICE_NOT_OFFERED"], field="service_code")
    return provider, item


async def preview(
    pool: asyncpg.Pool,
    directory: ProviderDirectory,
    *,
    provider_id: str,
    token_text: str,
    service_code: str,
    gross_fen: int,
    pin: str | None,
    qr_public_key: str,
    now: datetime | None = None,
) -> PreviewResult:
    """What `redeem` would answer now for this bill, without redeeming (SPEC: the staff see
    the subsidy and the co-payment before confirming).

    The same checks in the same order (token signature and expiry, nonce not used yet;
    provider approved, service offered; card PIN; person active; voucher, area, balance,
    limits) and the same rule on the voucher the statement would lock, but only reads: the
    nonce is not consumed and nothing is written. A card's wrong PIN still counts towards
    its lock, exactly as in a redemption, so a preview is no way round the PIN limit.
    """
    now = now or datetime.now(UTC)
    token = codes.verify_token(qr_public_key, token_text, now)
    provider, item = _provider_and_item(directory, provider_id, service_code)
    if token.kind == codes.KIND_CARD:
        await _check_card(pool, token, pin, now)
    elif await repo.nonce_used(pool, token.nonce):
        raise refused("TOKEN_USED", REFUSALS["TOKEN_USED"], field="token", status_code=409)
    voucher = await _explain(pool, provider, item.category, token, now)
    split = _split(voucher, gross_fen, provider, now)
    return PreviewResult(
        str(voucher["id"]),
        voucher["program_code"],
        split.subsidy_fen,
        split.copay_fen,
        split.balance_after_fen,
    )


async def _explain(
    pool: asyncpg.Pool, provider: ProviderEntry, category: str, token: codes.Token, now: datetime
) -> Any:
    """The voucher the redemption statement would use, or the refusal that explains why
    there is none (person not active, no usable voucher, out of area, exhausted)."""
    status = await repo.beneficiary_status(pool, token.beneficiary_id)
    if status is None:
        raise codes.TokenInvalid(field="token")
    if status != "active":
        raise refused("BENEFICIARY_NOT_ACTIVE", REFUSALS["BENEFICIARY_NOT_ACTIVE"])
    voucher = await repo.candidate_voucher(
        pool, token.beneficiary_id, provider.kind, category, now, provider.region_code
    )
    if voucher is None:
        raise refused("NO_USABLE_VOUCHER", REFUSALS["NO_USABLE_VOUCHER"])
    check_spend_area(voucher["spend_region_prefix"], provider.region_code)
    if voucher["status"] == "exhausted":
        raise refused("VOUCHER_EXHAUSTED", REFUSALS["VOUCHER_EXHAUSTED"])
    return voucher


def _split(voucher: Any, gross_fen: int, provider: ProviderEntry, now: datetime) -> Any:
    count, fen = used_today(
        voucher["day_on"], voucher["day_count"], voucher["day_subsidy_fen"], local_day(now)
    )
    return compute_split(
        VoucherState(
            balance_fen=voucher["balance_fen"],
            ratio_bp=voucher["ratio_bp"],
            per_use_fen=voucher["per_use_fen"],
            per_txn_cap_fen=voucher["per_txn_cap_fen"],
            day_cap_fen=voucher["day_cap_fen"],
            day_limit_count=voucher["day_limit_count"],
            used_count_today=count,
            used_fen_today=fen,
            spend_region_prefix=voucher["spend_region_prefix"],
        ),
        gross_fen,
        provider.region_code,
    )


async def redeem(
    pool: asyncpg.Pool,
    directory: ProviderDirectory,
    *,
    provider_id: str,
    terminal_id: str | None,
    req: RedeemRequest,
    qr_public_key: str,
    now: datetime | None = None,
) -> RedeemResult:
    """Redeem a scanned code at a provider's terminal (SPEC: "Redemption").

    Checks the token (signature, expiry; card: PIN), the provider (approved) and the service
    (on its price list), then runs the one statement. On the happy path that is the only
    round trip; when it pays nothing, the cold path finds the exact reason.
    """
    now = now or datetime.now(UTC)
    digest = request_hash(req.token, req.service_code, req.gross_fen)
    try:
        token = codes.verify_token(qr_public_key, req.token, now)
    except codes.TokenExpired:
        # A client retrying after the code expired still gets its original answer.
        replay = await _replay(pool, provider_id, req, digest)
        if replay is not None:
            return replay
        raise
    provider, item = _provider_and_item(directory, provider_id, req.service_code)
    card_id = None
    if token.kind == codes.KIND_CARD:
        replay = await _replay(pool, provider_id, req, digest)
        if replay is not None:
            return replay
        card_id = await _check_card(pool, token, req.pin, now)
    today = local_day(now)
    for _attempt in range(3):
        try:
            row = await repo.redeem(
                pool,
                beneficiary_id=token.beneficiary_id,
                nonce=token.nonce if token.kind == codes.KIND_DYNAMIC else None,
                nonce_expires_at=token.expires_at,
                provider_kind=provider.kind,
                category=item.category,
                gross_fen=req.gross_fen,
                today=today,
                now=now,
                redemption_id=new_uuid(),
                event_id=new_uuid(),
                provider_id=provider_id,
                terminal_id=terminal_id,
                service_code=req.service_code,
                idempotency_key=req.idempotency_key,
                request_hash=digest,
                card_id=card_id,
                provider_region=provider.region_code,
            )
        except asyncpg.UniqueViolationError:
            row = None
        if row is not None:
            return _result(row, replayed=False)
        replay = await _diagnose(
            pool, provider_id, provider, item.category, token, req, digest, now
        )
        if replay is not None:
            return replay
        # _diagnose found nothing wrong: the state moved under us (a void, a day change);
        # the statement is safe to run again.
    raise AppError(
        "The voucher changed during the redemption; retry.", code="RETRY_LATER", status_code=409
    )


async def _diagnose(
    pool: asyncpg.Pool,
    provider_id: str,
    provider: ProviderEntry,
    category: str,
    token: codes.Token,
    req: RedeemRequest,
    digest: bytes,
    now: datetime,
) -> RedeemResult | None:
    """Why the statement paid nothing: raise the exact refusal, or return the original
    answer of a repeated request; None when nothing is wrong any more."""
    replay = await _replay(pool, provider_id, req, digest)
    if replay is not None:
        return replay
    if token.kind == codes.KIND_DYNAMIC and await repo.nonce_used(pool, token.nonce):
        raise refused("TOKEN_USED", REFUSALS["TOKEN_USED"], field="token", status_code=409)
    voucher = await _explain(pool, provider, category, token, now)
    _split(voucher, req.gross_fen, provider, now)
    return None


# --- void -----------------------------------------------------------------------------------


async def void(
    pool: asyncpg.Pool,
    redemption_id: uuid.UUID,
    *,
    provider_id: str | None,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Void a redemption the same day (Asia/Shanghai), before it is claimed: the subsidy goes
    back on the voucher, `redemption.voided` is written for the ledger and the refund of
    any co-payment captured is recorded (service/copay_refund.py). Voiding a voided
    redemption answers the same again and changes nothing. `provider_id` None = a service."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        row = await repo.lock_redemption(conn, redemption_id)
        if row is None or (provider_id is not None and row["provider_id"] != provider_id):
            # Another provider's redemption is not even confirmed to exist.
            raise NotFound("No such redemption.", field="redemption_id")
        problem = may_void(row["day_on"], row["status"], row["claimed_at"] is not None, now)
        if problem == "REDEMPTION_CLAIMED":
            raise AppError(
                "The redemption is already claimed for settlement.", code=problem, status_code=409
            )
        if problem == "VOID_WINDOW_CLOSED":
            raise AppError(
                "A redemption can be voided only on its own day.", code=problem, status_code=409
            )
        if row["status"] == "voided":
            balance = await conn.fetchval(
                "SELECT balance_fen FROM voucher WHERE id = $1", row["voucher_id"]
            )
            return _void_body(row["id"], row["voucher_id"], balance, row["voided_at"], True)
        voucher = await repo.restore_balance(
            conn,
            voucher_id=row["voucher_id"],
            subsidy_fen=row["subsidy_fen"],
            day_on=row["day_on"],
            now=now,
        )
        await repo.mark_voided(conn, row["id"], now=now, by=actor, reason=reason)
        # Its co-payment's refund is promised in this same transaction (sent after commit).
        await copay_refund.reserve_for_void(conn, row["id"])
        payload = {
            "program_code": voucher["program_code"],
            "region_code": voucher["region_code"],
            "budget_region_code": voucher["budget_region_code"],
            "period": voucher["period"],
            "funding_shares": orjson.loads(voucher["funding_shares"]),
            "redemption_id": str(row["id"]),
            "voucher_id": str(row["voucher_id"]),
            "beneficiary_id": str(row["beneficiary_id"]),
            "provider_id": row["provider_id"],
            "subsidy_fen": int(row["subsidy_fen"]),
            "reason": reason,
        }
        await repo.insert_event(
            conn,
            event_id=new_uuid(),
            type_="redemption.voided",
            payload_json=orjson.dumps(payload).decode(),
            occurred_at=now,
        )
        return _void_body(row["id"], row["voucher_id"], voucher["balance_fen"], now, False)


def _void_body(
    rid: Any, vid: Any, balance: int, voided_at: datetime, already: bool
) -> dict[str, Any]:
    return {
        "id": str(rid),
        "status": "voided",
        "voucher_id": str(vid),
        "balance_fen": int(balance),
        "voided_at": voided_at.isoformat(),
        "already_voided": already,
    }


# --- claim ----------------------------------------------------------------------------------


async def claim(
    pool: asyncpg.Pool, ids: list[uuid.UUID], claim_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """Mark redemptions as claimed for settlement (all or nothing). Refuses voided ones and
    ones claimed by another claim; claiming again under the same claim id changes nothing."""
    now = now or datetime.now(UTC)
    unique = sorted(set(ids))
    async with pool.acquire() as conn, conn.transaction():
        rows = await repo.lock_many(conn, unique)
        found = {r["id"]: r for r in rows}
        missing = [str(i) for i in unique if i not in found]
        if missing:
            raise NotFound(
                "Some redemptions do not exist.",
                field="redemption_ids",
                details={"missing": missing},
            )
        voided = [str(r["id"]) for r in rows if r["status"] == "voided"]
        if voided:
            raise AppError(
                "Voided redemptions cannot be claimed.",
                code="REDEMPTION_VOIDED",
                field="redemption_ids",
                status_code=409,
                details={"voided": voided},
            )
        other = [
            str(r["id"]) for r in rows if r["claimed_at"] is not None and r["claim_id"] != claim_id
        ]
        if other:
            raise AppError(
                "Some redemptions belong to another claim.",
                code="REDEMPTION_ALREADY_CLAIMED",
                field="redemption_ids",
                status_code=409,
                details={"claimed": other},
            )
        await repo.mark_claimed(conn, unique, claim_id, now)
    return {"claim_id": claim_id, "claimed": [str(i) for i in unique]}
