"""Tables as files people open in a spreadsheet: CSV and Excel (xlsx), one helper for both.

A table is a header row and data rows of plain values (str, int, None). Amounts stay
integer fen in the file, like the APIs; the column name says so. CSV is UTF-8 with CRLF line
ends (RFC 4180); `bom=True` adds a byte-order mark so Excel on Windows reads the Chinese.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"csv": CSV_MEDIA, "xlsx": XLSX_MEDIA}


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = False) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(row)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")


def xlsx_bytes(sheet: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    # Excel allows 31 characters and none of []:*?/\ in a sheet name.
    ws.title = "".join(ch for ch in sheet if ch not in "[]:*?/\\")[:31] or "Sheet1"
    ws.append(list(columns))
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def table_file(
    fmt: str, sheet: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> bytes:
    """`fmt` is `csv` (with BOM, for people) or `xlsx`."""
    if fmt == "csv":
        return csv_bytes(columns, rows, bom=True)
    if fmt == "xlsx":
        return xlsx_bytes(sheet, columns, rows)
    raise ValueError(fmt)
