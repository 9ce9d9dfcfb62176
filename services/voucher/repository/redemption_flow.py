"""The cold path of redemptions (SQLAlchemy on `Redemption`, `Voucher`, `UsedNonce`): the
original answer of a repeated request, why the redemption statement paid nothing, the
providers' and people's lists, and forgetting expired nonces. The statement itself is in the
hot-path module, repository/redemption.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Text, any_, delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Redemption, UsedNonce, Voucher


@dataclass(frozen=True, slots=True)
class Earlier:
    """A redemption already made under an idempotency key: its answer and what was asked."""

    id: uuid.UUID
    voucher_id: uuid.UUID
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    request_hash: bytes


async def by_idempotency_key(session: AsyncSession, provider_id: str, key: str) -> Earlier | None:
    row = (
        await session.execute(
            select(
                col(Redemption.id),
                col(Redemption.voucher_id),
                col(Redemption.subsidy_fen),
                col(Redemption.copay_fen),
                col(Redemption.balance_after_fen),
                col(Redemption.request_hash),
            ).where(
                col(Redemption.provider_id) == provider_id, col(Redemption.idempotency_key) == key
            )
        )
    ).first()
    return Earlier(*row) if row is not None else None


async def nonce_used(session: AsyncSession, nonce: bytes) -> bool:
    found = await session.scalar(select(literal(1)).where(col(UsedNonce.nonce) == nonce))
    return found is not None


async def candidate_voucher(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    kind: str,
    category: str,
    now: datetime,
    provider_region: str | None,
) -> Voucher | None:
    """The voucher the statement would have used, or else an exhausted one or one for
    another area, to explain a refusal."""
    v = Voucher
    in_area = func.starts_with(literal(provider_region, Text), col(v.spend_region_prefix))
    return await session.scalar(
        select(v)
        .where(
            col(v.beneficiary_id) == beneficiary_id,
            col(v.status).in_(("active", "exhausted")),
            col(v.valid_from) <= now,
            col(v.valid_until) > now,
            literal(kind, Text) == any_(col(v.allowed_kinds)),
            literal(category, Text) == any_(col(v.allowed_categories)),
        )
        .order_by(
            func.coalesce(in_area, False).desc(),
            (col(v.status) == "active").desc(),
            col(v.priority),
            col(v.valid_until),
            col(v.id),
        )
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def purge_nonces(session: AsyncSession, before: datetime) -> int:
    """Forget nonces whose tokens have expired anyway (a replay is then TOKEN_EXPIRED)."""
    result: Any = await session.execute(delete(UsedNonce).where(col(UsedNonce.expires_at) < before))
    return int(cast(CursorResult[Any], result).rowcount or 0)


# --- lists ---------------------------------------------------------------------------------


async def for_provider_day(session: AsyncSession, provider_id: str, day: date) -> list[Redemption]:
    result = await session.scalars(
        select(Redemption)
        .where(col(Redemption.provider_id) == provider_id, col(Redemption.day_on) == day)
        .order_by(col(Redemption.created_at), col(Redemption.id))
    )
    return list(result)


async def for_beneficiary(
    session: AsyncSession, beneficiary_id: uuid.UUID, limit: int
) -> list[Redemption]:
    result = await session.scalars(
        select(Redemption)
        .where(col(Redemption.beneficiary_id) == beneficiary_id)
        .order_by(col(Redemption.created_at).desc(), col(Redemption.id).desc())
        .limit(limit)
    )
    return list(result)
