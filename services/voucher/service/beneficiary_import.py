"""Bulk enrolment from a CSV (UTF-8, header row) or XLSX file (first sheet, header row).

Columns (order free), each by its API name or its Chinese heading (service/import_columns.py,
BENEFICIARY_COLUMNS: national_id 身份证号, name 姓名, care_setting 照护方式 居家/社区/机构, …);
the optional ones may be left empty (none / false / 0).

Each row is enrolled on its own (a savepoint), and gets its own result: created, duplicate
(the national ID is already enrolled, also earlier in the same file) or error (code + field).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.crypto import PiiCipher
from services.common.errors import AppError, OutOfScope
from services.common.export import cell_text
from services.voucher.errors import (
    BeneficiaryExists,
    FieldRequired,
    FileTooLarge,
    InvalidValue,
    MissingColumns,
    UnsupportedFile,
)
from services.voucher.schemas.beneficiaries import (
    BeneficiaryCreate,
    ImportRowResult,
)
from services.voucher.service import beneficiaries as service
from services.voucher.service.import_columns import (
    BENEFICIARY_COLUMNS,
    CARE_SETTINGS,
    HEADING_OF,
    column_of,
    row_error,
)

REQUIRED_COLUMNS = tuple(c.name for c in BENEFICIARY_COLUMNS if c.required)
OPTIONAL_COLUMNS = tuple(c.name for c in BENEFICIARY_COLUMNS if not c.required)
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
_TRUE = {"1", "true", "yes", "y", "是", "t"}
_FALSE = {"0", "false", "no", "n", "否", "f", ""}


def read_rows(
    content: bytes, filename: str | None, required: tuple[str, ...] = REQUIRED_COLUMNS
) -> list[dict[str, str]]:
    """The file's data rows as {column: text}. Refuses what is not a readable CSV/XLSX with
    the `required` header (UNSUPPORTED_FILE / MISSING_COLUMNS, field `file`); also read by
    the status import (service/status_import.py)."""
    if len(content) > MAX_BYTES:
        raise FileTooLarge(field="file")
    if not content:
        raise UnsupportedFile("The file is empty.", field="file")
    is_xlsx = content[:4] == b"PK\x03\x04" or (filename or "").lower().endswith(".xlsx")
    if is_xlsx:
        try:
            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            sheet = book.worksheets[0]
            table = [[cell_text(c) for c in row] for row in sheet.iter_rows(values_only=True)]
            book.close()
        except Exception as exc:
            raise UnsupportedFile("The XLSX file cannot be read.", field="file") from exc
    else:
        try:
            text_ = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnsupportedFile("The CSV file must be UTF-8 text.", field="file") from exc
        if "\x00" in text_:
            raise UnsupportedFile(field="file")
        table = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text_))]
    table = [row for row in table if any(row)]
    if not table:
        raise UnsupportedFile("The file has no header row.", field="file")
    header = [column_of(h) for h in table[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise MissingColumns(
            f"Missing columns: {', '.join(missing)}.",
            field="file",
            details={"missing": missing, "headings": [HEADING_OF.get(c, c) for c in missing]},
        )
    if len(table) - 1 > MAX_ROWS:
        raise FileTooLarge(field="file")
    return [
        {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}
        for row in table[1:]
    ]


def _bool(value: str, field: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InvalidValue(f"{field} must be true/false (1/0, 是/否).", field=field)


def to_create(row: dict[str, str]) -> BeneficiaryCreate:
    """A file row as an enrolment request; a refusal names the column."""

    def opt(name: str) -> str | None:
        return row.get(name) or None

    data = {
        "national_id": row.get("national_id", ""),
        "name": row.get("name", ""),
        "phone": opt("phone"),
        "region_code": row.get("region_code", ""),
        "address": row.get("address", ""),
        "lat": opt("lat"),
        "lon": opt("lon"),
        "care_setting": CARE_SETTINGS.get(
            row.get("care_setting", "").strip(), row.get("care_setting", "")
        ),
        "dibao": _bool(row.get("dibao", ""), "dibao"),
        "tekun": _bool(row.get("tekun", ""), "tekun"),
        "hukou_region_code": opt("hukou_region_code"),
        "assessment": {
            "scores": {
                k: row.get(k, "") for k in ("self_care", "motor", "mental", "perception_social")
            },
            "flags": {
                "coma": _bool(row.get("coma", ""), "coma"),
                "dementia": _bool(row.get("dementia", ""), "dementia"),
                "mental_disorder": _bool(row.get("mental_disorder", ""), "mental_disorder"),
                "care_risk_events": row.get("care_risk_events") or 0,
            },
            "assessed_on": row.get("assessed_on", ""),
            "assessor": row.get("assessor", ""),
        },
    }
    try:
        return BeneficiaryCreate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if p not in ("assessment", "scores", "flags")]
        field = loc[-1] if loc else "row"
        # pydantic's message names the rule, never the value (the value may be personal data)
        kind = FieldRequired if first.get("type") == "missing" else InvalidValue
        raise kind(f"{field}: {first.get('msg', 'invalid')}", field=field) from None


@dataclass(frozen=True, slots=True)
class Imported:
    """A row's result, and for a created person what first-month issuance needs."""

    result: ImportRowResult
    eligible_programs: list[str] = dataclass_field(default_factory=list)


async def import_rows(
    session: AsyncSession,
    rows: list[dict[str, str]],
    *,
    cipher: PiiCipher,
    who: str,
    today: date,
    covers_region: Callable[[str], bool],
    validity_months: int = 12,
) -> list[Imported]:
    results: list[Imported] = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            data = to_create(row)
            if not covers_region(data.region_code.strip()):
                raise OutOfScope("This region is outside your scope.", field="region_code")
            async with session.begin_nested():
                enrolled = await service.enrol(
                    session,
                    data,
                    cipher=cipher,
                    who=who,
                    today=today,
                    validity_months=validity_months,
                )
            results.append(
                Imported(
                    ImportRowResult(
                        row=number, status="created", id=str(enrolled.id), grade=enrolled.grade
                    ),
                    enrolled.eligible_programs,
                )
            )
        except BeneficiaryExists:
            # The row is a duplicate whoever enrolled the person (a national ID is enrolled
            # once in the province); their id is told only to an officer of their region.
            existing = None
            try:
                seen = await service.find_by_national_id(
                    session,
                    row.get("national_id", ""),
                    cipher=cipher,
                    today=today,
                    covers_region=covers_region,
                )
                existing = seen.id
            except AppError:
                pass
            results.append(
                Imported(
                    ImportRowResult(
                        row=number, status="duplicate", id=str(existing) if existing else None
                    )
                )
            )
        except AppError as exc:
            results.append(
                Imported(
                    ImportRowResult(
                        row=number,
                        status="error",
                        error=row_error(exc),
                    )
                )
            )
    return results
