"""docs/errors.md, generated from the error catalogues (`yiyang errors-doc` rewrites it).

Each service's catalogue is the `AppError` subclasses of its errors module(s)
(`services.common.errors.catalogue`); the codes every service can answer are the common
module's. A test keeps the file equal to what this module writes, and another that every code
the source raises (in Python or in the SQL of a trigger) is in a catalogue.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from services.common.errors import NUL_CHARACTER, PROBLEM_CODES, CatalogueEntry, catalogue

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"

# Which errors modules make up each catalogue (the service's own, plus the common one).
CATALOGUES: dict[str, tuple[str, ...]] = {
    "common": ("services.common.errors",),
    "voucher": ("services.voucher.errors",),
    "provider": ("services.provider.errors",),
    "ledger": ("services.ledger.errors", "services.ledger.settlement.errors"),
}

TITLES = {
    "common": "Every service",
    "voucher": "Voucher service",
    "provider": "Provider service",
    "ledger": "Ledger service (journal, settlement, reconciliation)",
}


def entries(name: str) -> list[CatalogueEntry]:
    return catalogue(*(importlib.import_module(m) for m in CATALOGUES[name]))


def render() -> str:
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from the services' errors modules by `yiyang errors-doc`; do not edit. -->",
        "",
        'A refusal is `{"error": {"code": "...", "message": "...", "field": "..."}}` '
        "with the HTTP status below. Clients branch on `code`, which never changes meaning; "
        "`message` is for people and may change. Messages never quote the input.",
        "",
    ]
    for name, title in TITLES.items():
        lines += [f"## {title}", "", "| code | status | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{e.code}` | {e.status} | {e.meaning} |" for e in entries(name)]
        lines.append("")
        if name == "common":
            lines += [
                "A `VALIDATION_ERROR` lists every problem in `details.problems`, each with "
                "`field`, `message` and one of these codes: "
                + ", ".join(
                    f"`{c}`"
                    for c in sorted({*PROBLEM_CODES.values(), "INVALID_VALUE", NUL_CHARACTER})
                )
                + ".",
                "",
            ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run `yiyang errors-doc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0
