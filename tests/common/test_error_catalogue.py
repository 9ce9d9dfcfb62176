"""Every error code is written once, in a catalogue, and docs/errors.md is generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.common import error_docs

ROOT = Path(__file__).resolve().parents[2]
# A code set in Python: `code = "X"` (a class) or `code="X"` (an argument).
PY_CODE = re.compile(r"\bcode\s*=\s*\"([A-Z][A-Z0-9_]{2,})\"")
# A code raised by the database: RAISE EXCEPTION 'CODE: ...' in a function or trigger body.
SQL_CODE = re.compile(r"RAISE\s+EXCEPTION\s+'([A-Z][A-Z0-9_]{2,}):")


def codes_in_source(folder: Path) -> dict[str, str]:
    """code -> the first file that uses it."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".py", ".sql") or "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in (PY_CODE, SQL_CODE):
            for code in pattern.findall(text):
                found.setdefault(code, str(path.relative_to(ROOT)))
    return found


def test_the_document_is_generated_from_the_catalogues():
    assert error_docs.DOC.read_text(encoding="utf-8") == error_docs.render(), (
        "docs/errors.md is out of date: run `python3 dev.py errors-doc`"
    )


@pytest.mark.parametrize("service", ["common", "voucher", "provider", "ledger"])
def test_every_code_the_source_raises_is_in_its_catalogue(service):
    known = {e.code for e in error_docs.entries(service)} | {
        e.code for e in error_docs.entries("common")
    }
    used = codes_in_source(ROOT / "services" / service)
    missing = {code: where for code, where in used.items() if code not in known}
    assert missing == {}, (
        f"codes used in services/{service} but not declared as an AppError subclass in its "
        f"errors module: {missing}"
    )


def test_catalogues_do_not_give_one_code_two_meanings():
    seen: dict[str, tuple[str, int]] = {}
    for name in error_docs.CATALOGUES:
        for e in error_docs.entries(name):
            if e.code in seen:
                assert seen[e.code][1] == e.status, (e.code, seen[e.code][0], name)
            seen[e.code] = (name, e.status)
