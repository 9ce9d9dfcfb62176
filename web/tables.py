"""Long tables made readable on a phone: the trial balance grouped by account class and
account, with subtotals, filtered by a search (a template filter, so the finance and the
auditor pages that show a trial balance both get it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web.labels import label, region


@dataclass
class Group:
    """Rows under one heading, with their debit and credit subtotals."""

    key: str
    title: str
    debit_fen: int = 0
    credit_fen: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    children: list[Group] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        self.debit_fen += int(row.get("debit_fen") or 0)
        self.credit_fen += int(row.get("credit_fen") or 0)


def _words(row: dict[str, Any]) -> str:
    """Everything a person might search a trial balance row by, in Chinese and as codes."""
    parts = [
        str(row.get("code") or ""),
        str(row.get("name") or ""),
        label(row.get("name"), "account"),
        str(row.get("region_code") or ""),
        region(row.get("region_code")),
        label(row.get("program_code"), "program"),
        label(row.get("program_code"), "program_short"),
        label(row.get("funding_source"), "funding"),
        label(row.get("code"), "account_class"),
    ]
    return " ".join(parts).lower()


def trial_balance_groups(accounts: list[dict[str, Any]] | None, q: str = "") -> list[Group]:
    """Class (资产类, 负债类, …) → account (1001 国库资金, …) → the account's rows by region,
    programme and funding source; subtotals at both levels. `q` keeps the rows any of whose
    words contain it (several words: all of them)."""
    terms = [t for t in (q or "").lower().split() if t]
    classes: dict[str, Group] = {}
    accounts_by_code: dict[str, Group] = {}
    for row in sorted(
        accounts or (),
        key=lambda r: (
            str(r.get("code")),
            str(r.get("region_code") or ""),
            str(r.get("program_code") or ""),
        ),
    ):
        if terms and not all(t in _words(row) for t in terms):
            continue
        code = str(row.get("code") or "")
        cls = classes.get(code[:1])
        if cls is None:
            cls = classes[code[:1]] = Group(code[:1], label(code, "account_class"))
        acct = accounts_by_code.get(code)
        if acct is None:
            acct = accounts_by_code[code] = Group(
                code, f"{code} {label(row.get('name'), 'account')}"
            )
            cls.children.append(acct)
        acct.rows.append(row)
        acct.add(row)
        cls.add(row)
    return [classes[k] for k in sorted(classes)]


def install(env: Any) -> None:
    env.filters["trial_balance_groups"] = trial_balance_groups
