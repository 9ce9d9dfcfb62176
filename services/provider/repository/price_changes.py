"""Price list changes that raise what public money pays: a new request's row (the rest of
a change's life is repository/change_requests.py's; the rule, service/price_review.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.provider.models import PriceListChange


async def insert_change(
    session: AsyncSession,
    *,
    change_id: uuid.UUID,
    provider_id: uuid.UUID,
    services: list[Any],
    raises: list[str],
    requested_by: str,
) -> None:
    await session.execute(
        insert(PriceListChange).values(
            id=change_id,
            provider_id=provider_id,
            services=services,
            raises=raises,
            requested_by=requested_by,
        )
    )
