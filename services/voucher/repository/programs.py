"""SQL for programs and their version history."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_if_absent(
    session: AsyncSession,
    code: str,
    name: str,
    kind: str,
    config: dict[str, Any],
    who: str,
    reason: str,
) -> bool:
    """Create a program at version 1 unless it exists; True if it was created."""
    created = (
        await session.execute(
            text(
                "INSERT INTO program (code, name, kind, version, config, updated_by) "
                "VALUES (:code, :name, :kind, 1, CAST(:config AS jsonb), :who) "
                "ON CONFLICT (code) DO NOTHING RETURNING code"
            ),
            {
                "code": code,
                "name": name,
                "kind": kind,
                "config": orjson.dumps(config).decode(),
                "who": who,
            },
        )
    ).first()
    if created:
        await session.execute(
            text(
                "INSERT INTO program_version (program_code, version, config, changed_by, reason) "
                "VALUES (:code, 1, CAST(:config AS jsonb), :who, :reason)"
            ),
            {"code": code, "config": orjson.dumps(config).decode(), "who": who, "reason": reason},
        )
    return created is not None


async def list_programs(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT code, name, kind, version, config, updated_at, updated_by FROM program "
            "ORDER BY code"
        )
    )
    return [dict(r._mapping) for r in rows]


async def get_program(
    session: AsyncSession, code: str, *, lock: bool = False
) -> dict[str, Any] | None:
    sql = (
        "SELECT code, name, kind, version, config, updated_at, updated_by FROM program "
        "WHERE code = :code" + (" FOR UPDATE" if lock else "")
    )
    row = (await session.execute(text(sql), {"code": code})).first()
    return dict(row._mapping) if row else None


async def get_version(session: AsyncSession, code: str, version: int) -> dict[str, Any] | None:
    row = (
        await session.execute(
            text(
                "SELECT version, config, changed_by, changed_at, reason FROM program_version "
                "WHERE program_code = :code AND version = :version"
            ),
            {"code": code, "version": version},
        )
    ).first()
    return dict(row._mapping) if row else None


async def list_versions(session: AsyncSession, code: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT version, config, changed_by, changed_at, reason FROM program_version "
            "WHERE program_code = :code ORDER BY version"
        ),
        {"code": code},
    )
    return [dict(r._mapping) for r in rows]


async def save_new_version(
    session: AsyncSession,
    code: str,
    version: int,
    name: str,
    kind: str,
    config: dict[str, Any],
    who: str,
    reason: str,
) -> None:
    payload = orjson.dumps(config).decode()
    await session.execute(
        text(
            "INSERT INTO program_version (program_code, version, config, changed_by, reason) "
            "VALUES (:code, :version, CAST(:config AS jsonb), :who, :reason)"
        ),
        {"code": code, "version": version, "config": payload, "who": who, "reason": reason},
    )
    await session.execute(
        text(
            "UPDATE program SET version = :version, name = :name, kind = :kind, "
            "config = CAST(:config AS jsonb), updated_by = :who, updated_at = now() "
            "WHERE code = :code"
        ),
        {
            "code": code,
            "version": version,
            "name": name,
            "kind": kind,
            "config": payload,
            "who": who,
        },
    )
