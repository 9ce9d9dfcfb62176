"""The officer's roster: people of a region found by name, the last four of their national
ID or phone, status, grade, care setting, programme and reassessment due; keyset pages.

Measured on 100,000 people of one district (docs/performance.md, "Roster"): every filter is a
plain predicate on `beneficiary` (region prefix, status, grade, ...) and the page is the first
`limit` rows after the cursor in (name, id) or (created_at, id) order, so PostgreSQL answers
from one scan with a top-N sort; the indexes on the last-four columns serve the digit search.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, not_, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Beneficiary, CashBenefit, Voucher


@dataclass(frozen=True, slots=True)
class RosterFilter:
    """What the officer asked for. `region_prefix`: the significant prefix of a region the
    officer covers (its sub-regions included); `q`: a name (prefix or part) or 4 digits (the
    last four of the national ID or of the phone)."""

    region_prefix: str
    today: date
    q: str | None = None
    status: str | None = None
    grade: int | None = None
    care_setting: str | None = None
    program_code: str | None = None
    program_is_cash: bool = False  # a cash benefit (cash_benefit rows), else vouchers
    period: str | None = None
    reassessment_before: date | None = None  # grade valid until this day or earlier


@dataclass(frozen=True, slots=True)
class RosterRow:
    id: uuid.UUID
    name: str
    national_id_enc: bytes
    phone_enc: bytes | None
    region_code: str
    status: str
    paused_from: date | None
    paused_until: date | None
    grade: int | None
    grade_valid_until: date | None
    care_setting: str
    created_at: datetime


def _in_stay(today: date) -> Any:
    b = Beneficiary
    return and_(
        col(b.paused_from).is_not(None),
        col(b.paused_from) <= today,
        or_(col(b.paused_until).is_(None), col(b.paused_until) >= today),
    )


def _conditions(f: RosterFilter) -> list[Any]:
    b = Beneficiary
    out: list[Any] = [col(b.region_code).startswith(f.region_prefix, autoescape=True)]
    if f.q:
        q = f.q.strip()
        if len(q) == 4 and (q[:3].isdigit() and (q[3].isdigit() or q[3] in "xX")):
            out.append(or_(col(b.national_id_last4) == q.upper(), col(b.phone_last4) == q.upper()))
        else:
            out.append(col(b.name).contains(q, autoescape=True))
    if f.status == "hospitalised":
        out += [col(b.status) == "active", _in_stay(f.today)]
    elif f.status == "active":
        out += [col(b.status) == "active", not_(_in_stay(f.today))]
    elif f.status is not None:
        out.append(col(b.status) == f.status)
    if f.grade is not None:
        out.append(col(b.grade) == f.grade)
    if f.care_setting is not None:
        out.append(col(b.care_setting) == f.care_setting)
    if f.reassessment_before is not None:
        out.append(col(b.grade_valid_until) <= f.reassessment_before)
    if f.program_code is not None and f.period is not None:
        # One EXISTS on the table the programme pays through (not an OR of two), so the
        # planner can join it as a semi-join.
        if f.program_is_cash:
            out.append(
                exists().where(
                    col(CashBenefit.beneficiary_id) == col(b.id),
                    col(CashBenefit.program_code) == f.program_code,
                    col(CashBenefit.period) == f.period,
                )
            )
        else:
            out.append(
                exists().where(
                    col(Voucher.beneficiary_id) == col(b.id),
                    col(Voucher.program_code) == f.program_code,
                    col(Voucher.period) == f.period,
                )
            )
    return out


async def search(
    session: AsyncSession,
    f: RosterFilter,
    *,
    sort: str,
    after: tuple[Any, uuid.UUID] | None,
    limit: int | None,
) -> list[RosterRow]:
    """A page of the roster: `limit` rows (None: all, for an export) in `sort` order
    ('name': by name; 'created_at': newest first), after the keyset `after`."""
    b = Beneficiary
    query = select(
        col(b.id),
        col(b.name),
        col(b.national_id_enc),
        col(b.phone_enc),
        col(b.region_code),
        col(b.status),
        col(b.paused_from),
        col(b.paused_until),
        col(b.grade),
        col(b.grade_valid_until),
        col(b.care_setting),
        col(b.created_at),
    ).where(*_conditions(f))
    if sort == "created_at":
        if after is not None:
            query = query.where(tuple_(col(b.created_at), col(b.id)) < tuple_(*after))
        query = query.order_by(col(b.created_at).desc(), col(b.id).desc())
    else:
        if after is not None:
            query = query.where(tuple_(col(b.name), col(b.id)) > tuple_(*after))
        query = query.order_by(col(b.name), col(b.id))
    if limit is not None:
        query = query.limit(limit)
    return [RosterRow(*tuple(r)) for r in await session.execute(query)]


async def count(session: AsyncSession, f: RosterFilter) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Beneficiary).where(*_conditions(f)))
        or 0
    )


async def missing_search_keys(
    session: AsyncSession, limit: int
) -> list[tuple[uuid.UUID, bytes, bytes | None]]:
    """People enrolled before the last-four columns existed (id, sealed ID, sealed phone)."""
    b = Beneficiary
    rows = await session.execute(
        select(col(b.id), col(b.national_id_enc), col(b.phone_enc))
        .where(col(b.national_id_last4).is_(None))
        .limit(limit)
    )
    return [(r[0], bytes(r[1]), bytes(r[2]) if r[2] is not None else None) for r in rows]


async def set_search_keys(
    session: AsyncSession, keys: list[tuple[uuid.UUID, str, str | None]]
) -> None:
    """(id, last four of the ID, last four of the phone) for many people, one executemany."""
    if not keys:
        return
    # On the connection (Core executemany), not the ORM's bulk update by primary key.
    conn = await session.connection()
    await conn.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == bindparam("person_id"))
        .values(national_id_last4=bindparam("id4"), phone_last4=bindparam("phone4"))
        .execution_options(synchronize_session=False),
        [{"person_id": i, "id4": n, "phone4": p} for i, n, p in keys],
    )
