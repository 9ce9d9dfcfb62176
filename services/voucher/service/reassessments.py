"""Reassessment: who is due (an assessment lapses within a window, or has lapsed) and the
quarterly spot reassessment draw (service/spot_rules.py says how people are drawn).

Scope: the officer's region or one inside it; outside is OUT_OF_SCOPE, and a draw of a
region the caller does not cover is SPOT_DRAW_NOT_FOUND (as if there were none). Personal
data is decrypted only to be masked.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.crypto import PiiCipher, mask_national_id
from services.common.errors import OutOfScope
from services.common.ids import new_uuid
from services.common.regions import significant_prefix
from services.voucher.errors import InvalidValue, SpotDrawNotFound
from services.voucher.models import SpotDraw
from services.voucher.repository import reassessments as repo
from services.voucher.schemas.reassessments import (
    DueEntry,
    DuePage,
    SpotDrawCreate,
    SpotDrawMemberRead,
    SpotDrawRead,
)
from services.voucher.service import spot_rules
from services.voucher.service.identity import check_region

EXPORT_LIMIT = 200_000
DUE_COLUMNS = [
    "姓名",
    "身份证号(脱敏)",
    "行政区划",
    "评估等级",
    "评估有效期至",
    "剩余天数",
    "已过期",
    "照护方式",
]
DRAW_COLUMNS = ["顺序", "姓名", "身份证号(脱敏)", "行政区划", "评估等级", "抽查后复评日期"]
SETTING_ZH = {"home": "居家", "community": "社区", "institution": "机构"}


def scoped_region(
    region_code: str | None, scope: str | None, covers_region: Callable[[str], bool]
) -> str:
    """The region asked for (default: the caller's), which the caller must cover."""
    region = check_region(region_code) if region_code else scope
    if not region or not covers_region(region):
        raise OutOfScope("This region is outside your scope.", field="region_code")
    return region


# --- the due list --------------------------------------------------------------------------


def _encode_cursor(row: repo.DueRow) -> str:
    raw = orjson.dumps([row.grade_valid_until.isoformat(), str(row.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[date, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        day, last = orjson.loads(raw)
        return date.fromisoformat(day), uuid.UUID(last)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidValue("cursor: not a cursor of this list.", field="cursor") from None


def present_due(row: repo.DueRow, cipher: PiiCipher, today: date) -> DueEntry:
    days = (row.grade_valid_until - today).days
    return DueEntry(
        id=str(row.id),
        name=row.name,
        national_id_masked=mask_national_id(
            cipher.decrypt(row.national_id_enc, context=b"national_id")
        ),
        region_code=row.region_code,
        grade=row.grade,
        grade_valid_until=row.grade_valid_until,
        days_left=days,
        lapsed=days < 0,
        care_setting=row.care_setting,
    )


async def due_page(
    session: AsyncSession,
    *,
    region: str,
    within_days: int,
    today: date,
    cursor: str | None,
    limit: int,
    cipher: PiiCipher,
) -> DuePage:
    """A page of the people whose assessment lapses within `within_days` (or has lapsed)."""
    after = _decode_cursor(cursor) if cursor else None
    rows = await repo.due(
        session,
        region_prefix=significant_prefix(region),
        until=today + timedelta(days=within_days),
        after=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return DuePage(
        within_days=within_days,
        items=[present_due(r, cipher, today) for r in rows],
        next_cursor=_encode_cursor(rows[-1]) if more and rows else None,
    )


async def due_all(
    session: AsyncSession, *, region: str, within_days: int, today: date
) -> list[repo.DueRow]:
    return await repo.due(
        session,
        region_prefix=significant_prefix(region),
        until=today + timedelta(days=within_days),
        after=None,
        limit=EXPORT_LIMIT,
    )


def due_export_rows(
    rows: list[repo.DueRow], cipher: PiiCipher, today: date, region_name: Callable[[str], str]
) -> Iterator[list[Any]]:
    for row in rows:
        e = present_due(row, cipher, today)
        yield [
            e.name,
            e.national_id_masked,
            region_name(e.region_code),
            e.grade if e.grade is not None else "",
            e.grade_valid_until.isoformat(),
            e.days_left,
            "是" if e.lapsed else "否",
            SETTING_ZH.get(e.care_setting, e.care_setting),
        ]


# --- spot draws ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawOutcome:
    draw: SpotDraw
    recorded: bool  # True: the region's quarter had been drawn before; this is that draw


async def run_draw(
    session: AsyncSession,
    body: SpotDrawCreate,
    *,
    scope: str | None,
    covers_region: Callable[[str], bool],
    today: date,
    default_share_bp: int,
    who: str,
) -> DrawOutcome:
    """Draw the quarter's spot reassessments in a region, once: if that region's quarter was
    drawn before (or is being drawn by a racing request, which this one waits for), the
    recorded draw is the answer and nothing new is written. A quarter after today's is
    refused."""
    region = scoped_region(body.region_code, scope, covers_region)
    quarter = spot_rules.check_quarter(body.quarter or spot_rules.quarter_of(today))
    if quarter > spot_rules.quarter_of(today):
        raise InvalidValue("quarter: not a future quarter.", field="quarter")
    earlier = await repo.draw_of(session, region, quarter)
    if earlier is not None:
        return DrawOutcome(earlier, recorded=True)
    share_bp = default_share_bp
    seed = secrets.token_hex(16)  # the service's, never the caller's (no re-rolling)
    population = await repo.active_ids(session, significant_prefix(region))
    chosen = spot_rules.draw(
        population, seed=seed, region_code=region, quarter=quarter, share_bp=share_bp
    )
    draw_id = new_uuid()
    created = await repo.insert_draw(
        session,
        repo.NewDraw(
            id=draw_id,
            region_code=region,
            quarter=quarter,
            share_bp=share_bp,
            seed=seed,
            population=len(set(population)),
            population_hash=spot_rules.population_hash(population),
            drawn=len(chosen),
            created_by=who,
        ),
        chosen,
    )
    found = await repo.get_draw(session, draw_id) if created else None
    if found is None:  # a racing draw of the same region and quarter committed first
        found = await repo.draw_of(session, region, quarter)
        if found is None:  # pragma: no cover - the unique key said it exists
            raise SpotDrawNotFound(field="quarter")
        return DrawOutcome(found, recorded=True)
    return DrawOutcome(found, recorded=False)


async def get_draw(
    session: AsyncSession, draw_id: uuid.UUID, covers_region: Callable[[str], bool]
) -> SpotDraw:
    draw = await repo.get_draw(session, draw_id)
    if draw is None or not covers_region(draw.region_code):
        raise SpotDrawNotFound(field="draw_id")
    return draw


async def list_draws(session: AsyncSession, region: str, limit: int) -> list[SpotDraw]:
    return await repo.draws(session, significant_prefix(region), limit)


def present_draw(
    draw: SpotDraw, *, recorded: bool = False, members: list[SpotDrawMemberRead] | None = None
) -> SpotDrawRead:
    return SpotDrawRead(
        id=str(draw.id),
        region_code=draw.region_code,
        quarter=draw.quarter,
        share_bp=draw.share_bp,
        seed=draw.seed,
        population=draw.population,
        population_hash=draw.population_hash,
        drawn=draw.drawn,
        created_at=draw.created_at,
        created_by=draw.created_by,
        recorded=recorded,
        members=members or [],
    )


async def members(
    session: AsyncSession, draw: SpotDraw, cipher: PiiCipher
) -> list[SpotDrawMemberRead]:
    return [
        SpotDrawMemberRead(
            rank=r.rank,
            beneficiary_id=str(r.id),
            name=r.name,
            national_id_masked=mask_national_id(
                cipher.decrypt(r.national_id_enc, context=b"national_id")
            ),
            region_code=r.region_code,
            grade=r.grade,
            reassessed_on=r.reassessed_on,
        )
        for r in await repo.members(session, draw.id, draw.created_at)
    ]


def draw_export_rows(
    people: list[SpotDrawMemberRead], region_name: Callable[[str], str]
) -> Iterator[list[Any]]:
    for m in people:
        yield [
            m.rank,
            m.name,
            m.national_id_masked,
            region_name(m.region_code),
            m.grade if m.grade is not None else "",
            m.reassessed_on.isoformat() if m.reassessed_on else "",
        ]
