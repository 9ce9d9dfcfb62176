"""Tables as files people open in a spreadsheet: CSV and Excel (xlsx), one helper for both.

A table is a header row and data rows of plain values (str, int, Decimal, None). The APIs'
files keep amounts in integer fen, like the APIs, and the column name says so; a file for
people has them in 元 (`yuan_cell`: an exact Decimal with two places, which Excel gets as a
number it can sum, shown with two decimals). CSV is UTF-8 with CRLF line ends (RFC 4180);
`bom=True` adds a byte-order mark so Excel on Windows reads the Chinese.

Every text cell passes `safe_cell`: a name such as `=HYPERLINK(...)` typed into a provider's
or a person's record must reach the spreadsheet as text, never as a formula it would run.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response

# A spreadsheet reads a cell starting with one of these as a formula (or, for tab and CR, may
# shift it into one); OWASP's advice is to make such a cell text with a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")

CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"csv": CSV_MEDIA, "xlsx": XLSX_MEDIA}


def safe_cell(value: Any) -> Any:
    """`value` as a spreadsheet may show it without running it: text that starts like a
    formula gets a leading `'`; numbers, and text that is only a signed number, stay as they are.
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def yuan_cell(amount_fen: int | None) -> Decimal | None:
    """An amount in fen as 元 for a person's file: 123450 -> Decimal('1234.50')."""
    return None if amount_fen is None else Decimal(int(amount_fen)).scaleb(-2)


# How Excel shows a cell holding 元.
YUAN_FORMAT = "#,##0.00"


def _safe(row: Sequence[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = False) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(_safe(columns))
    for row in rows:
        w.writerow(_safe(row))
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")


def xlsx_bytes(
    sheet: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    text_columns: Collection[int] = (),
) -> bytes:
    """The table as a workbook; the columns at `text_columns` (0-based) are formatted as
    text, so what is typed into them stays as typed (an 18-digit ID typed into a number
    cell loses its last digits)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    # Excel allows 31 characters and none of []:*?/\ in a sheet name.
    ws.title = "".join(ch for ch in sheet if ch not in "[]:*?/\\")[:31] or "Sheet1"
    for index in text_columns:
        column = ws.column_dimensions[get_column_letter(index + 1)]
        column.number_format = "@"
        column.width = 22
    ws.append(_safe(columns))
    for row in rows:
        ws.append(_safe(row))
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, Decimal):
                cell.number_format = YUAN_FORMAT
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def table_file(
    fmt: str,
    sheet: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    text_columns: Collection[int] = (),
) -> bytes:
    """`fmt` is `csv` (with BOM, for people) or `xlsx` (`text_columns` formatted as text)."""
    if fmt == "csv":
        return csv_bytes(columns, rows, bom=True)
    if fmt == "xlsx":
        return xlsx_bytes(sheet, columns, rows, text_columns=text_columns)
    raise ValueError(fmt)


def attachment(
    fmt: str,
    sheet: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    name: str,
    *,
    text_columns: Collection[int] = (),
) -> Response:
    """The table as a file to download, `name.fmt`."""
    return Response(
        table_file(fmt, sheet, columns, rows, text_columns=text_columns),
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


# A floating-point number this large in a sheet's cell is no amount of ours: it is an identity
# number the spreadsheet took for a number (Excel keeps 15 digits of an 18-digit ID and
# writes it as 4.5010319491231E+17).
_MANGLED = 10**15


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text it stands for: a date as YYYY-MM-DD, a whole number
    without its `.0`, a floating-point number of 16 digits or more as the spreadsheet shows
    it (`4.501032E+17`), so that a reader can tell the person it was mangled."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and abs(value) >= _MANGLED:
        return f"{value:.6E}"  # (a whole number written out in full stays exact: an int)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
