"""Programs and their version history (SQLAlchemy on the `Program` / `ProgramVersion` tables)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Program, ProgramVersion


async def insert_if_absent(
    session: AsyncSession,
    code: str,
    name: str,
    kind: str,
    config: dict[str, Any],
    who: str,
    reason: str,
    region_code: str | None = None,
) -> bool:
    """Create a program at version 1 unless it exists; True if it was created."""
    created = await session.scalar(
        pg_insert(Program)
        .values(
            code=code,
            name=name,
            kind=kind,
            version=1,
            config=config,
            updated_by=who,
            region_code=region_code,
        )
        .on_conflict_do_nothing(index_elements=[col(Program.code)])
        .returning(col(Program.code))
    )
    if created is not None:
        await session.execute(
            insert(ProgramVersion).values(
                program_code=code, version=1, config=config, changed_by=who, reason=reason
            )
        )
    return created is not None


async def list_programs(session: AsyncSession) -> list[Program]:
    result = await session.scalars(
        select(Program).order_by(col(Program.code)).execution_options(populate_existing=True)
    )
    return list(result)


async def names_of(session: AsyncSession, codes: list[str]) -> dict[str, str]:
    """The current name of each programme (as its officers published it), by code."""
    if not codes:
        return {}
    rows = await session.execute(
        select(col(Program.code), col(Program.name)).where(col(Program.code).in_(codes))
    )
    return {str(code): str(name) for code, name in rows.all()}


async def get_program(session: AsyncSession, code: str, *, lock: bool = False) -> Program | None:
    query = (
        select(Program).where(col(Program.code) == code).execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def list_versions(session: AsyncSession, code: str) -> list[ProgramVersion]:
    result = await session.scalars(
        select(ProgramVersion)
        .where(col(ProgramVersion.program_code) == code)
        .order_by(col(ProgramVersion.version))
    )
    return list(result)


async def save_new_version(
    session: AsyncSession,
    code: str,
    version: int,
    name: str,
    kind: str,
    config: dict[str, Any],
    who: str,
    reason: str,
    effective_from: str | None = None,
) -> None:
    await session.execute(
        insert(ProgramVersion).values(
            program_code=code,
            version=version,
            config=config,
            changed_by=who,
            reason=reason,
            effective_from=effective_from,
        )
    )
    await session.execute(
        update(Program)
        .where(col(Program.code) == code)
        .values(
            version=version,
            name=name,
            kind=kind,
            config=config,
            updated_by=who,
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )


async def version_for_period(
    session: AsyncSession, code: str, period: str
) -> ProgramVersion | None:
    """The newest version in force in a period (its `effective_from` absent or not after it)."""
    return await session.scalar(
        select(ProgramVersion)
        .where(
            col(ProgramVersion.program_code) == code,
            or_(
                col(ProgramVersion.effective_from).is_(None),
                col(ProgramVersion.effective_from) <= period,
            ),
        )
        .order_by(col(ProgramVersion.version).desc())
        .limit(1)
    )
