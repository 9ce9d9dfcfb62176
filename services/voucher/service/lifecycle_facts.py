"""What the anomaly rules and recoveries need to know of a person's life events: the date of
death and hospital stays. The minimal interface the beneficiary-lifecycle work (issue 15) is
to fill from its status timeline (effective dates, evidence); until then a date of death is
the Beijing day the person was recorded deceased (`beneficiary.status_changed_at`), and no
hospital stays are known.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.voucher.repository import anomalies as repo
from services.voucher.service.redemption import local_day


async def death_dates(
    session: AsyncSession, beneficiary_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, date]:
    """The recorded date of death of those of these people who died."""
    return {
        person: local_day(at)
        for person, at in (await repo.deceased_since(session, beneficiary_ids)).items()
    }


async def hospital_stays(
    session: AsyncSession, beneficiary_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[date, date | None]]]:
    """Recorded hospital stays (admitted, discharged or None while in hospital). None are
    recorded yet: the lifecycle work supplies them."""
    return {}
