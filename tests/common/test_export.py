"""Exports people open in a spreadsheet never carry a formula typed into a name."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from services.common.export import csv_bytes, safe_cell, xlsx_bytes

HOSTILE = [
    '=HYPERLINK("http://evil.example","点我")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
]


def test_text_that_starts_like_a_formula_becomes_text():
    for value in HOSTILE:
        assert safe_cell(value) == "'" + value
    # Plain values pass through: numbers, signed numbers written as text, ordinary names.
    for value in (-5, 0, 12.5, None, "-12.50", "+3", "幸福食堂", "A=B"):
        assert safe_cell(value) == value


def test_csv_and_xlsx_files_hold_the_neutralised_cells():
    rows = [[name, -100] for name in HOSTILE]
    read = list(
        csv.reader(io.StringIO(csv_bytes(["名称", "amount_fen"], rows).decode(), newline=""))
    )
    assert [r[0] for r in read[1:]] == ["'" + v for v in HOSTILE]
    assert {r[1] for r in read[1:]} == {"-100"}
    sheet = load_workbook(io.BytesIO(xlsx_bytes("t", ["名称", "amount_fen"], rows))).active
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    # (XML stores a carriage return as a line feed.)
    assert [c[0] for c in cells] == ["'" + v.replace("\r", "\n") for v in HOSTILE]
    assert {c[1] for c in cells} == {-100}
    # Not a formula cell for the spreadsheet either.
    assert all(sheet.cell(row=i, column=1).data_type == "s" for i in range(2, len(rows) + 2))
