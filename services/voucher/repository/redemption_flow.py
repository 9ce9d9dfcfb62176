"""The cold path of redemptions (SQLAlchemy on `Redemption` and `UsedNonce`): the providers'
and people's lists, and forgetting expired nonces. The redemption statement, and the one that
explains a redemption that paid nothing, are in the hot-path module, repository/redemption.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Copayment, Redemption, RedemptionItem, UsedNonce, Voucher


async def purge_nonces(session: AsyncSession, before: datetime) -> int:
    """Forget nonces whose tokens have expired anyway (a replay is then TOKEN_EXPIRED). A scan
    of the table, which holds a few minutes of redemptions (no index on `expires_at`)."""
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


@dataclass(frozen=True, slots=True)
class CopayWay:
    """How a redemption's co-payment is being taken (its `copayment` row)."""

    id: uuid.UUID
    method: str
    status: str


async def copay_ways(
    session: AsyncSession, redemption_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CopayWay]:
    """The co-payment of each of these redemptions that has one, by redemption."""
    if not redemption_ids:
        return {}
    result = await session.execute(
        select(
            col(Copayment.redemption_id),
            col(Copayment.id),
            col(Copayment.method),
            col(Copayment.status),
        ).where(col(Copayment.redemption_id).in_(list(redemption_ids)))
    )
    return {rid: CopayWay(cid, method, status) for rid, cid, method, status in result}


async def program_codes(
    session: AsyncSession, voucher_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The programme of each voucher named (what paid each redemption of a list)."""
    if not voucher_ids:
        return {}
    result = await session.execute(
        select(col(Voucher.id), col(Voucher.program_code)).where(
            col(Voucher.id).in_(set(voucher_ids))
        )
    )
    return {vid: str(code) for vid, code in result}


def bill_line_of(r: Redemption) -> tuple[str, int]:
    """The one line of a bill that has no `redemption_item` rows (one line at quantity one,
    or a bill from before lines were kept): the redemption's service, once."""
    return r.service_code, 1


async def bill_lines(
    session: AsyncSession, redemption_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[str, int]]]:
    """The bills of several lines or quantities as (service code, quantity), in the bill's
    order; a redemption not here is a bill of one line (`bill_line_of`)."""
    if not redemption_ids:
        return {}
    result = await session.execute(
        select(
            col(RedemptionItem.redemption_id),
            col(RedemptionItem.service_code),
            col(RedemptionItem.quantity),
        )
        .where(col(RedemptionItem.redemption_id).in_(list(redemption_ids)))
        .order_by(col(RedemptionItem.redemption_id), col(RedemptionItem.line))
    )
    lines: dict[uuid.UUID, list[tuple[str, int]]] = {}
    for rid, code, quantity in result:
        lines.setdefault(rid, []).append((code, int(quantity)))
    return lines


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
