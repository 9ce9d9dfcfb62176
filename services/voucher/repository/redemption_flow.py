"""The cold path of redemptions (SQLAlchemy on `Redemption` and `UsedNonce`): the providers'
and people's lists, and forgetting expired nonces. The redemption statement, and the one that
explains a redemption that paid nothing, are in the hot-path module, repository/redemption.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Redemption, UsedNonce


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
