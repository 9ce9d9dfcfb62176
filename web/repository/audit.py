"""The audit log of sign-ins and account changes (append-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from web.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    """Which events: in a region (`region_prefix`; None: every region, and events about no
    known account, which only a province-wide auditor sees), about or by one username, in
    a time range [`since`, `until`), older than event `before_id` (paging back)."""

    region_prefix: str | None
    username: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None


async def add(session: AsyncSession, event: AuditEvent) -> None:
    session.add(event)
    await session.flush()


async def newest_first(session: AsyncSession, f: AuditFilter, limit: int) -> list[AuditEvent]:
    stmt = select(AuditEvent)
    if f.region_prefix is not None:
        stmt = stmt.where(col(AuditEvent.region).startswith(f.region_prefix, autoescape=True))
    if f.username:
        stmt = stmt.where(
            or_(col(AuditEvent.subject) == f.username, col(AuditEvent.actor) == f.username)
        )
    if f.since is not None:
        stmt = stmt.where(col(AuditEvent.at) >= f.since)
    if f.until is not None:
        stmt = stmt.where(col(AuditEvent.at) < f.until)
    if f.before_id is not None:
        stmt = stmt.where(col(AuditEvent.id) < f.before_id)
    stmt = stmt.order_by(col(AuditEvent.id).desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())
