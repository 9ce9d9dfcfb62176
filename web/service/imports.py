"""Officers' imports (people to enrol, deaths and hospital stays) run in the background, part
by part, so a long file shows its progress and the officer can leave the page and come back.

The uploaded CSV or Excel file is read here only as far as cutting it into parts: each part
is a CSV of the header and up to `chunk_rows` data rows, sent to the voucher service's own
import (which checks every row and records nothing twice). The answers are merged -- row
numbers of the whole file, counts added up -- into the job row (`import_job`) after every
part, so the job page shows `done_rows` of `total_rows` and, at the end, every row's result.
A job that stops moving for `background.STALE_AFTER` (the web restarted) is shown as cut
short: the same file imported again finishes it."""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.common.db import Database
from services.common.export import cell_text
from web.service import background
from web.service.context import Identity

log = logging.getLogger("yiyang.web.imports")

# The counters of each kind's answer (the voucher service's ImportResult / StatusImportResult).
COUNTERS = {
    "beneficiaries": ("total", "created", "duplicates", "errors"),
    "status": ("total", "applied", "unchanged", "errors"),
}


class UnreadableFile(ValueError):
    """The file cannot be cut into parts: the message says why, in Chinese."""


@dataclass(frozen=True, slots=True)
class Part:
    content: bytes  # a CSV: the header, then the rows
    rows: int
    offset: int  # data rows of the file before this part


def _table(content: bytes, filename: str) -> list[list[str]]:
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        try:
            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            table = [
                [cell_text(c) for c in row]
                for row in book.worksheets[0].iter_rows(values_only=True)
            ]
            book.close()
        except Exception as exc:
            raise UnreadableFile("这个 Excel 文件打不开，请另存为 .xlsx 或 CSV 后再试。") from exc
        return table
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile("CSV 文件需要用 UTF-8 编码保存，请另存后再试。") from exc
    if "\x00" in text:
        raise UnreadableFile("这不是 CSV 文件，请检查后再试。")
    return [list(row) for row in csv.reader(io.StringIO(text))]


def split(content: bytes, filename: str, chunk_rows: int) -> list[Part]:
    """The file as parts of at most `chunk_rows` data rows, each a CSV with the header (empty
    lines dropped, as the voucher service drops them). Refuses a file with no header."""
    table = [row for row in _table(content, filename) if any(c.strip() for c in row)]
    if not table:
        raise UnreadableFile("文件是空的，请检查后再试。")
    header, rows = table[0], table[1:]
    parts = []
    for start in range(0, max(len(rows), 1), chunk_rows):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows[start : start + chunk_rows])
        chunk = rows[start : start + chunk_rows]
        parts.append(Part(out.getvalue().encode(), len(chunk), start))
    return parts


def merge(kind: str, merged: dict[str, Any], answer: dict[str, Any], offset: int) -> None:
    """Add a part's answer to the whole: counts added, rows renumbered for the whole file."""
    for name in COUNTERS[kind]:
        merged[name] = int(merged.get(name) or 0) + int(answer.get(name) or 0)
    rows = merged.setdefault("rows", [])
    for row in answer.get("rows") or ():
        rows.append({**row, "row": int(row.get("row") or 0) + offset})


# (voucher client token, a part's CSV) -> the voucher service's answer for it
Send = Callable[[str, bytes], Awaitable[dict[str, Any]]]


async def run(
    db: Database,
    ident: Identity,
    *,
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: str,
    parts: list[Part],
    send: Send,
) -> None:
    """Send the parts one after the other, recording the progress and the merged answers
    after each (background.run); a refusal (the file's columns, the account disabled) ends
    the job failed with its reason in Chinese."""

    async def step(token: str, part: Part, merged: dict[str, Any]) -> None:
        merge(kind, merged, await send(token, part.content), part.offset)

    await background.run(
        db,
        ident,
        job_id=job_id,
        user_id=user_id,
        steps=[(part.rows, part) for part in parts],
        step=step,
        failure="系统出错，导入没有完成。请重新导入同一个文件。",
    )


is_stale = background.is_stale
