"""Import jobs (web/models.py `ImportJob`): created, advanced part by part, finished, read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from web.models import ImportJob


async def create(
    session: AsyncSession, *, user_id: uuid.UUID, kind: str, filename: str, total_rows: int
) -> ImportJob:
    job = ImportJob(
        id=uuid.uuid4(),
        user_id=user_id,
        kind=kind,
        filename=filename,
        status="running",
        total_rows=total_rows,
        done_rows=0,
        result={},
    )
    session.add(job)
    await session.flush()
    return job


async def advance(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    done_rows: int,
    result: dict[str, Any],
    status: str = "running",
    error: str | None = None,
) -> None:
    """The rows sent so far and the answers merged; a final status also stamps the end."""
    values: dict[str, Any] = {
        "done_rows": done_rows,
        "result": result,
        "status": status,
        "error": error,
        "updated_at": func.now(),
    }
    if status != "running":
        values["finished_at"] = func.now()
    await session.execute(
        update(ImportJob)
        .where(col(ImportJob.id) == job_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def get(session: AsyncSession, job_id: uuid.UUID, user_id: uuid.UUID) -> ImportJob | None:
    """The job if it is this user's (an officer sees only their own imports)."""
    result = await session.execute(
        select(ImportJob)
        .where(col(ImportJob.id) == job_id, col(ImportJob.user_id) == user_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def recent(
    session: AsyncSession, user_id: uuid.UUID, kind: str, limit: int = 5
) -> list[ImportJob]:
    result = await session.execute(
        select(ImportJob)
        .where(col(ImportJob.user_id) == user_id, col(ImportJob.kind) == kind)
        .order_by(col(ImportJob.created_at).desc(), col(ImportJob.id))
        .limit(limit)
    )
    return list(result.scalars())


async def now(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.now()))).scalar_one()
