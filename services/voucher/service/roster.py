"""The officer's roster (GET /v1/beneficiaries and its export): who, filtered and paged.

Scope: the officer's region, or a region inside it (`region_code`, sub-regions included);
a region outside is OUT_OF_SCOPE. Personal data is decrypted only to be masked. Pages are
keyset pages: `cursor` is an opaque token naming the last row of the previous page.
Reassessment due: the assessment lapses within `DUE_DAYS` (60) days, or has lapsed.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.crypto import PiiCipher, mask_national_id, mask_phone
from services.common.db import Database
from services.common.errors import OutOfScope
from services.common.regions import significant_prefix
from services.voucher.errors import InvalidValue
from services.voucher.repository import roster as repo
from services.voucher.schemas.roster import RosterEntry, RosterPage
from services.voucher.service import programs
from services.voucher.service.identity import check_region
from services.voucher.service.lifecycle_rules import current_state
from services.voucher.service.periods import current_period

DUE_DAYS = 60
EXPORT_LIMIT = 200_000
SORTS = ("name", "created_at")
STATUSES = ("active", "hospitalised", "suspended", "moved", "exited", "deceased")
EXPORT_COLUMNS = [
    "姓名",
    "身份证号(脱敏)",
    "手机号(脱敏)",
    "行政区划",
    "状态",
    "评估等级",
    "评估有效期至",
    "需复评",
    "照护方式",
]
STATUS_ZH = {
    "active": "正常",
    "hospitalised": "住院",
    "suspended": "暂停",
    "moved": "迁出",
    "exited": "退出",
    "deceased": "死亡",
}
SETTING_ZH = {"home": "居家", "community": "社区", "institution": "机构"}


@dataclass(frozen=True)
class RosterQuery:
    q: str | None = None
    region_code: str | None = None
    status: str | None = None
    grade: int | None = None
    care_setting: str | None = None
    program_code: str | None = None
    reassessment_due: bool = False
    sort: str = "name"
    cursor: str | None = None
    limit: int = 50


def to_filter(
    query: RosterQuery,
    *,
    scope: str | None,
    covers_region: Callable[[str], bool],
    today: date,
    program_is_cash: bool = False,
) -> repo.RosterFilter:
    """The query as a repository filter, inside the caller's scope (refusals name the field)."""
    region = check_region(query.region_code) if query.region_code else scope
    if not region or not covers_region(region):
        raise OutOfScope("This region is outside your scope.", field="region_code")
    if query.status is not None and query.status not in STATUSES:
        raise InvalidValue("status: not a status.", field="status")
    if query.sort not in SORTS:
        raise InvalidValue("sort: name or created_at.", field="sort")
    q = (query.q or "").strip()[:40] or None
    return repo.RosterFilter(
        region_prefix=significant_prefix(region),
        today=today,
        q=q,
        status=query.status,
        grade=query.grade,
        care_setting=query.care_setting,
        program_code=query.program_code,
        program_is_cash=program_is_cash,
        period=current_period() if query.program_code else None,
        reassessment_before=today + timedelta(days=DUE_DAYS) if query.reassessment_due else None,
    )


async def program_is_cash(session: AsyncSession, code: str | None) -> bool:
    """Whether the programme asked for pays cash (PROGRAM_NOT_FOUND when there is none)."""
    if code is None:
        return False
    return (await programs.get_row(session, code)).kind == "cash_benefit"


def _encode_cursor(row: repo.RosterRow, sort: str) -> str:
    key: Any = row.created_at.isoformat() if sort == "created_at" else row.name
    raw = orjson.dumps([sort, key, str(row.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, key, last = orjson.loads(raw)
        if kind != sort:
            raise ValueError
        value = datetime.fromisoformat(key) if sort == "created_at" else str(key)
        return value, uuid.UUID(last)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidValue("cursor: not a cursor of this list.", field="cursor") from None


def present(row: repo.RosterRow, cipher: PiiCipher, today: date) -> RosterEntry:
    due = today + timedelta(days=DUE_DAYS)
    return RosterEntry(
        id=str(row.id),
        name=row.name,
        national_id_masked=mask_national_id(
            cipher.decrypt(row.national_id_enc, context=b"national_id")
        ),
        phone_masked=(
            mask_phone(cipher.decrypt(row.phone_enc, context=b"phone")) if row.phone_enc else None
        ),
        region_code=row.region_code,
        status=current_state(row.status, row.paused_from, row.paused_until, today),
        grade=row.grade,
        grade_valid_until=row.grade_valid_until,
        reassessment_due=row.grade_valid_until is not None and row.grade_valid_until <= due,
        care_setting=row.care_setting,
        created_at=row.created_at,
    )


async def page(
    session: AsyncSession, f: repo.RosterFilter, query: RosterQuery, cipher: PiiCipher
) -> RosterPage:
    after = _decode_cursor(query.cursor, query.sort) if query.cursor else None
    limit = max(1, min(query.limit, 200))
    rows = await repo.search(session, f, sort=query.sort, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RosterPage(
        items=[present(r, cipher, f.today) for r in rows],
        next_cursor=_encode_cursor(rows[-1], query.sort) if more and rows else None,
    )


def export_rows(
    rows: list[repo.RosterRow], cipher: PiiCipher, today: date, region_name: Callable[[str], str]
) -> Iterator[list[Any]]:
    """The roster as a table (masked personal data; labels in Chinese)."""
    for row in rows:
        e = present(row, cipher, today)
        yield [
            e.name,
            e.national_id_masked,
            e.phone_masked or "",
            region_name(e.region_code),
            STATUS_ZH.get(e.status, e.status),
            e.grade if e.grade is not None else "",
            e.grade_valid_until.isoformat() if e.grade_valid_until else "",
            "是" if e.reassessment_due else "否",
            SETTING_ZH.get(e.care_setting, e.care_setting),
        ]


async def fill_search_keys(db: Database, cipher: PiiCipher, batch: int = 500) -> int:
    """Fill the last-four columns of people enrolled before they existed (migration
    voucher_0802 cannot: it does not hold the personal-data key). Run at start."""
    filled = 0
    while True:
        async with db.unit_of_work() as session:
            rows = await repo.missing_search_keys(session, batch)
            keys: list[tuple[uuid.UUID, str, str | None]] = []
            for person_id, nid_enc, phone_enc in rows:
                try:
                    nid = cipher.decrypt(nid_enc, context=b"national_id")
                    phone = cipher.decrypt(phone_enc, context=b"phone") if phone_enc else None
                except InvalidTag:
                    # Not sealed with this key and context (a damaged or foreign row): the
                    # search keys stay empty ('') so it is not tried again; nothing else
                    # changes, and the row is simply not found by digits.
                    nid, phone = "", None
                keys.append((person_id, nid[-4:], phone[-4:] if phone else None))
            await repo.set_search_keys(session, keys)
        filled += len(rows)
        if len(rows) < batch:
            return filled
