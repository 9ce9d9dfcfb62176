"""The sign-in throttle's counters (the rule is web/service/throttle.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from web.models import SignInThrottle


async def counters(session: AsyncSession, keys: dict[str, str]) -> dict[str, SignInThrottle]:
    """The counters of (kind, key) pairs that exist, by kind."""
    rows = await session.execute(
        select(SignInThrottle).where(
            or_(
                *(
                    and_(col(SignInThrottle.kind) == k, col(SignInThrottle.key) == v)
                    for k, v in keys.items()
                )
            )
        )
    )
    return {row.kind: row for row in rows.scalars()}


async def lock_counter(session: AsyncSession, kind: str, key: str) -> SignInThrottle:
    """The counter, created if missing, locked until the transaction ends (concurrent
    failures of one counter are then counted one after the other)."""
    await session.execute(
        insert(SignInThrottle)
        .values(kind=kind, key=key, failures=0)
        .on_conflict_do_nothing(index_elements=["kind", "key"])
    )
    row = (
        await session.execute(
            select(SignInThrottle)
            .where(col(SignInThrottle.kind) == kind, col(SignInThrottle.key) == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return row


async def set_failures(
    session: AsyncSession,
    kind: str,
    key: str,
    *,
    failures: int,
    now: datetime,
    blocked_until: datetime | None,
) -> None:
    await session.execute(
        update(SignInThrottle)
        .where(col(SignInThrottle.kind) == kind, col(SignInThrottle.key) == key)
        .values(failures=failures, last_failure_at=now, blocked_until=blocked_until)
    )


async def succeeded(session: AsyncSession, kind: str, key: str, now: datetime) -> None:
    """Clear a counter after a successful sign-in and remember when it happened."""
    await session.execute(
        insert(SignInThrottle)
        .values(kind=kind, key=key, failures=0, last_success_at=now)
        .on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={"failures": 0, "blocked_until": None, "last_success_at": now},
        )
    )


async def purge(
    session: AsyncSession, *, failures_before: datetime, successes_before: datetime
) -> int:
    """Forget counters whose last failure and last sign-in are both older than these."""
    result = await session.execute(
        delete(SignInThrottle)
        .where(
            or_(
                col(SignInThrottle.last_failure_at).is_(None),
                col(SignInThrottle.last_failure_at) < failures_before,
            ),
            or_(
                col(SignInThrottle.last_success_at).is_(None),
                col(SignInThrottle.last_success_at) < successes_before,
            ),
        )
        .returning(col(SignInThrottle.kind))
    )
    return len(result.all())
