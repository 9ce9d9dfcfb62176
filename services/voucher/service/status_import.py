"""Bulk status changes from a file (`POST /v1/status-imports`): deaths and hospital stays as
the public-security and health systems exchange them.

CSV (UTF-8, header row) or XLSX (first sheet, header row), columns (order free, by name or
Chinese heading: service/import_columns.py STATUS_COLUMNS): `national_id` 身份证号, `event`
事件, `date` 日期, and optionally `until` 出院日期 (last day of a hospital stay), `reason` 原因,
`evidence_ref` 凭证编号. Events: `deceased` (死亡), `hospitalised` (住院, 入院),
`discharged` (出院: back to active from that day). Dates are YYYY-MM-DD.

A row finds its person by the keyed hash of the national ID (the ID is never compared in
clear); someone the officer's region does not cover is BENEFICIARY_NOT_FOUND, exactly like an
ID nobody enrolled. Each row is recorded on its own (a savepoint) through the one way to change
a status (service/lifecycle.py `record`, source `import`), so its money consequences are those
of the API. A row whose very change is already on the person's timeline (same event, same
date, same end of stay) is `unchanged`: importing the same file again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.crypto import PiiCipher
from services.common.errors import AppError
from services.voucher.errors import (
    BeneficiaryNotFound,
    FieldRequired,
    InvalidValue,
    StatusImportRowInvalid,
)
from services.voucher.repository import beneficiaries as people_repo
from services.voucher.repository import lifecycle as repo
from services.voucher.schemas.beneficiaries import (
    StatusChangeCreate,
    StatusImportResult,
    StatusImportRow,
)
from services.voucher.service import lifecycle
from services.voucher.service.identity import parse_national_id
from services.voucher.service.import_columns import STATUS_COLUMNS, row_error

REQUIRED_COLUMNS = tuple(c.name for c in STATUS_COLUMNS if c.required)
EVENTS: dict[str, str] = {
    "deceased": "deceased",
    "death": "deceased",
    "死亡": "deceased",
    "hospitalised": "hospitalised",
    "hospitalized": "hospitalised",
    "住院": "hospitalised",
    "入院": "hospitalised",
    "discharged": "active",
    "出院": "active",
}
DEFAULT_REASON = {
    "deceased": "死亡信息比对",
    "hospitalised": "住院信息比对",
    "active": "出院信息比对",
}


@dataclass(frozen=True)
class Parsed:
    national_id: str
    status: str
    change: StatusChangeCreate


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue(f"{field} must be a date (YYYY-MM-DD).", field=field) from None


def parse_row(row: dict[str, str], today: date) -> Parsed:
    """A file row as a status change of the person its national ID names (refusals name
    the column; never the value)."""
    raw_event = (row.get("event") or "").strip().lower()
    if not raw_event:
        raise FieldRequired(field="event")
    status = EVENTS.get(raw_event)
    if status is None:
        raise StatusImportRowInvalid("event: not a known event.", field="event")
    if not (row.get("date") or "").strip():
        raise FieldRequired(field="date")
    effective_on = _date(row["date"], "date")
    until = _date(row["until"], "until") if (row.get("until") or "").strip() else None
    nid = parse_national_id(row.get("national_id", ""), today)
    reason = (row.get("reason") or "").strip()[:1000] or DEFAULT_REASON[status]
    evidence = (row.get("evidence_ref") or "").strip()[:200] or None
    return Parsed(
        nid.value,
        status,
        StatusChangeCreate(
            status=status,
            effective_on=effective_on,
            until=until,
            reason=reason,
            evidence_ref=evidence,
        ),
    )


async def import_rows(
    session: AsyncSession,
    rows: list[dict[str, str]],
    *,
    cipher: PiiCipher,
    who: str,
    today: date,
    covers_region: Callable[[str], bool],
) -> StatusImportResult:
    results: list[StatusImportRow] = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        event = (row.get("event") or "").strip() or None
        try:
            parsed = parse_row(row, today)
            found = await people_repo.id_by_national_id_hash(
                session, cipher.lookup_hash(parsed.national_id)
            )
            person = await people_repo.get(session, found, lock=True) if found else None
            if person is None or not covers_region(person.region_code):
                raise BeneficiaryNotFound(field="national_id")
            change = parsed.change
            if await repo.same_change(
                session, person.id, change.status, change.effective_on, change.until
            ):
                results.append(
                    StatusImportRow(
                        row=number, status="unchanged", event=event, beneficiary_id=str(person.id)
                    )
                )
                continue
            async with session.begin_nested():
                done = await lifecycle.record(
                    session, person, change, who=who, today=today, source="import"
                )
            results.append(
                StatusImportRow(
                    row=number,
                    status="applied",
                    event=event,
                    beneficiary_id=str(person.id),
                    change_id=str(done.change.id),
                )
            )
        except AppError as exc:
            results.append(
                StatusImportRow(
                    row=number,
                    status="error",
                    event=event,
                    error=row_error(exc),
                )
            )
    return StatusImportResult(
        total=len(results),
        applied=sum(r.status == "applied" for r in results),
        unchanged=sum(r.status == "unchanged" for r in results),
        errors=sum(r.status == "error" for r in results),
        rows=results,
    )
