"""SQL for beneficiaries, assessments, proxies, and reading their vouchers and cash benefits."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_BENEFICIARY_COLUMNS = (
    "id, national_id_enc, phone_enc, name, birth_on, sex, region_code, address, lat, lon, "
    "care_setting, dibao, grade, grade_valid_until, status, status_reason, status_changed_at, "
    "created_at, payout_account_enc, payout_account_set_at"
)


async def id_by_national_id_hash(
    session: AsyncSession, national_id_hash: bytes
) -> uuid.UUID | None:
    return (
        await session.execute(
            text("SELECT id FROM beneficiary WHERE national_id_hash = :h"), {"h": national_id_hash}
        )
    ).scalar()


async def insert_beneficiary(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Insert a beneficiary; False when the national ID is already enrolled (a racing
    enrolment of the same person loses here, on the unique keyed hash)."""
    created = (
        await session.execute(
            text(
                "INSERT INTO beneficiary (id, national_id_enc, national_id_hash, phone_enc, phone_hash, "
                " name, birth_on, sex, region_code, address, lat, lon, care_setting, dibao, grade, "
                " grade_valid_until, status, created_by) "
                "VALUES (:id, :national_id_enc, :national_id_hash, :phone_enc, :phone_hash, :name, "
                " :birth_on, :sex, :region_code, :address, :lat, :lon, :care_setting, :dibao, :grade, "
                " :grade_valid_until, 'active', :created_by) "
                "ON CONFLICT (national_id_hash) DO NOTHING RETURNING id"
            ),
            row,
        )
    ).first()
    return created is not None


async def insert_assessment(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(
        text(
            "INSERT INTO assessment (id, beneficiary_id, self_care, motor, mental, "
            " perception_social, flags, total, grade, assessed_on, valid_until, assessor, created_by) "
            "VALUES (:id, :beneficiary_id, :self_care, :motor, :mental, :perception_social, "
            " CAST(:flags AS jsonb), :total, :grade, :assessed_on, :valid_until, :assessor, "
            " :created_by)"
        ),
        {**row, "flags": orjson.dumps(row["flags"]).decode()},
    )


async def set_grade(
    session: AsyncSession, beneficiary_id: uuid.UUID, grade: int, valid_until: Any
) -> None:
    await session.execute(
        text("UPDATE beneficiary SET grade = :grade, grade_valid_until = :until WHERE id = :id"),
        {"grade": grade, "until": valid_until, "id": beneficiary_id},
    )


async def get(
    session: AsyncSession, beneficiary_id: uuid.UUID, *, lock: bool = False
) -> dict[str, Any] | None:
    sql = f"SELECT {_BENEFICIARY_COLUMNS} FROM beneficiary WHERE id = :id" + (
        " FOR UPDATE" if lock else ""
    )
    row = (await session.execute(text(sql), {"id": beneficiary_id})).first()
    return dict(row._mapping) if row else None


async def list_in_region(
    session: AsyncSession, prefix: str, limit: int, after: uuid.UUID | None
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            f"SELECT {_BENEFICIARY_COLUMNS} FROM beneficiary "
            "WHERE region_code LIKE :prefix AND (CAST(:after AS uuid) IS NULL OR id > :after) "
            "ORDER BY id LIMIT :limit"
        ),
        {"prefix": prefix + "%", "after": after, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def latest_assessment(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> dict[str, Any] | None:
    row = (
        await session.execute(
            text(
                "SELECT id, self_care, motor, mental, perception_social, flags, total, grade, "
                " assessed_on, valid_until, assessor FROM assessment WHERE beneficiary_id = :id "
                "ORDER BY assessed_on DESC, created_at DESC LIMIT 1"
            ),
            {"id": beneficiary_id},
        )
    ).first()
    return dict(row._mapping) if row else None


async def set_status(
    session: AsyncSession, beneficiary_id: uuid.UUID, status: str, reason: str
) -> None:
    """Change the status. Leaving 'active' freezes the vouchers in the same statement's
    transaction (trigger beneficiary_suspends_vouchers)."""
    await session.execute(
        text(
            "UPDATE beneficiary SET status = :status, status_reason = :reason, "
            " status_changed_at = now() WHERE id = :id"
        ),
        {"status": status, "reason": reason, "id": beneficiary_id},
    )


async def unfreeze_vouchers(session: AsyncSession, beneficiary_id: uuid.UUID) -> int:
    """Back to active: frozen vouchers still in their window become usable again."""
    result = await session.execute(
        text(
            "UPDATE voucher SET status = CASE WHEN balance_fen = 0 THEN 'exhausted' ELSE 'active' END, "
            " updated_at = now() "
            "WHERE beneficiary_id = :id AND status = 'suspended' AND valid_until > now()"
        ),
        {"id": beneficiary_id},
    )
    return result.rowcount or 0


async def insert_proxy(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(
        text(
            "INSERT INTO proxy_authorisation (id, beneficiary_id, proxy_sub, name, relation, "
            " phone_enc, status, created_by) VALUES (:id, :beneficiary_id, :proxy_sub, :name, "
            " :relation, :phone_enc, 'active', :created_by)"
        ),
        row,
    )


async def active_proxy_for(
    session: AsyncSession, beneficiary_id: uuid.UUID, proxy_sub: str
) -> uuid.UUID | None:
    return (
        await session.execute(
            text(
                "SELECT id FROM proxy_authorisation WHERE beneficiary_id = :b AND proxy_sub = :s "
                " AND status = 'active' LIMIT 1"
            ),
            {"b": beneficiary_id, "s": proxy_sub},
        )
    ).scalar()


async def list_proxies(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT id, beneficiary_id, proxy_sub, name, relation, phone_enc, status, created_at, "
            " revoked_at FROM proxy_authorisation WHERE beneficiary_id = :b ORDER BY created_at"
        ),
        {"b": beneficiary_id},
    )
    return [dict(r._mapping) for r in rows]


async def revoke_proxy(
    session: AsyncSession, beneficiary_id: uuid.UUID, proxy_id: uuid.UUID
) -> dict[str, Any] | None:
    row = (
        await session.execute(
            text(
                "UPDATE proxy_authorisation SET status = 'revoked', "
                " revoked_at = coalesce(revoked_at, now()) WHERE id = :p AND beneficiary_id = :b "
                "RETURNING id, beneficiary_id, proxy_sub, name, relation, phone_enc, status, "
                " created_at, revoked_at"
            ),
            {"p": proxy_id, "b": beneficiary_id},
        )
    ).first()
    return dict(row._mapping) if row else None


async def vouchers_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT id, program_code, program_version, period, face_fen, balance_fen, valid_from, "
            " valid_until, status, allowed_kinds, allowed_categories, ratio_bp, per_use_fen, "
            " day_limit_count, released_fen FROM voucher WHERE beneficiary_id = :b "
            "ORDER BY period DESC, priority, program_code"
        ),
        {"b": beneficiary_id},
    )
    return [dict(r._mapping) for r in rows]


async def cash_benefits_of(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT id, program_code, period, amount_fen, created_at FROM cash_benefit "
            "WHERE beneficiary_id = :b ORDER BY period DESC, program_code"
        ),
        {"b": beneficiary_id},
    )
    return [dict(r._mapping) for r in rows]


async def set_payout_account(
    session: AsyncSession, beneficiary_id: uuid.UUID, blob: bytes, who: str
) -> None:
    await session.execute(
        text(
            "UPDATE beneficiary SET payout_account_enc = :blob, payout_account_set_at = now(), "
            " payout_account_set_by = :who WHERE id = :id"
        ),
        {"blob": blob, "who": who, "id": beneficiary_id},
    )


async def payout_accounts(session: AsyncSession, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT id, name, region_code, status, payout_account_enc FROM beneficiary "
            "WHERE id = ANY(:ids) ORDER BY id"
        ),
        {"ids": ids},
    )
    return [dict(r._mapping) for r in rows]
