"""What the anomaly rules and recoveries need to know of a person's life events, read from
the status timeline (`beneficiary_status_change`, docs/lifecycle.md) through
repository/lifecycle.py: the recorded date of death (the `effective_on` of the death, which
may be in the past) and the recorded hospital stays (`lifecycle_rules.stays`: a stay as
recorded, corrected or ended early by a discharge or a death).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.voucher.repository import lifecycle as repo
from services.voucher.service import lifecycle_rules


async def death_dates(
    session: AsyncSession, beneficiary_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, date]:
    """The recorded date of death of those of these people who died."""
    return await repo.death_dates(session, beneficiary_ids)


async def hospital_stays(
    session: AsyncSession, beneficiary_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[date, date | None]]]:
    """The recorded hospital stays of these people, each (admitted, discharged or None while
    in hospital): `discharged` is the first day out of hospital (the day after the stay's
    last day), so a redemption strictly between the two fell inside the stay."""
    out: dict[uuid.UUID, list[tuple[date, date | None]]] = {}
    for person, changes in (await repo.stay_changes(session, beneficiary_ids)).items():
        stays = [
            (first, last + timedelta(days=1) if last is not None else None)
            for first, last in lifecycle_rules.stays(changes)
        ]
        if stays:
            out[person] = stays
    return out
