"""The files people download from the finance, audit and provider pages: headed in Chinese,
amounts in 元 (numbers a spreadsheet can sum), times in Beijing time, codes said in words,
and a byte-order mark on CSV so Excel on Windows opens the Chinese.

The services' own files (`?format=csv|xlsx` on their APIs) stay the machine format -- English
column names, integer fen, UTC -- for programs; the journal's zip for an auditor's own chain
check is that format too (docs/ledger.md, "For auditors"). Each table here is a list of
columns, a heading and how to read it off one row of a service's JSON, so a file says what
the page beside it says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from starlette.responses import Response

from services.common import export
from web.labels import label, local_time, program_name, region

Row = Mapping[str, Any]
Column = tuple[str, Callable[[Row], Any]]

# The most entries one download of the auditor's entries may hold; past it the auditor is
# asked to narrow the query (a month, an account) rather than handed a part of it.
MAX_ENTRIES = 50_000


def yuan(key: str) -> Callable[[Row], Any]:
    """The row's `key` (integer fen) in 元."""
    return lambda r: export.yuan_cell(None if r.get(key) is None else int(r[key]))


def text(key: str) -> Callable[[Row], Any]:
    return lambda r: r.get(key)


def download(
    fmt: str, sheet: str, columns: Sequence[Column], rows: Iterable[Row], name: str
) -> Response:
    """`rows` as `name.fmt` to download: CSV (with its BOM) or Excel, with these columns."""
    return export.attachment(
        fmt,
        sheet,
        [heading for heading, _ in columns],
        ([get(r) for _, get in columns] for r in rows),
        name,
    )


# --- a provider's statement, the aging of what providers are owed (finance, auditors,
# the provider's admin) -------------------------------------------------------------------


def statement_columns(provider_name: str) -> list[Column]:
    return [
        ("服务机构", lambda r: provider_name),
        ("月份", text("period")),
        ("项目", text("item")),
        ("金额（元）", yuan("amount_fen")),
        ("服务机构编号", text("provider_id")),
    ]


def aging_columns(buckets: Sequence[tuple[str, str]]) -> list[Column]:
    return [
        ("服务机构", text("provider_name")),
        *((f"{name}（元）", yuan(f"{key}_fen")) for key, name in buckets),
        ("合计（元）", yuan("total_fen")),
        ("其中自付部分（元）", yuan("copay_fen")),
        ("最久已等（天）", text("oldest_days")),
        ("服务机构编号", text("provider_id")),
    ]


# --- reconciliation (finance, auditors) ---------------------------------------------------

_RECORD = {
    "redemption": "核销",
    "entry": "分录",
    "claim": "结算申请",
    "copayment": "自付款",
    "payment_intent": "在线支付",
    "account": "账户",
}


def record_name(record: Any) -> str:
    """`redemption:<id>` as 核销 <id>: what the record is, then the id to look it up by."""
    kind, _, rest = str(record or "").partition(":")
    return f"{_RECORD[kind]} {rest}" if kind in _RECORD and rest else str(record or "")


RECONCILIATION_COLUMNS: list[Column] = [
    ("差异类型", lambda r: label(r.get("kind"), "discrepancy")),
    ("有误的一方", lambda r: label(r.get("side"), "discrepancy_side")),
    ("金额（元）", yuan("amount_fen")),
    ("记录", lambda r: record_name(r.get("record"))),
]


# --- trial balance (finance, auditors) ----------------------------------------------------


def trial_balance_columns(as_of: str, programs: Mapping[str, str]) -> list[Column]:
    return [
        ("截至（北京时间）", lambda r: local_time(as_of)),
        ("科目代码", text("code")),
        ("科目名称", lambda r: r["total"] if r.get("total") else label(r.get("name"), "account")),
        ("科目类别", lambda r: "" if r.get("total") else label(r.get("code"), "account_class")),
        ("补贴项目", lambda r: program_name(r, names=programs) if r.get("program_code") else ""),
        ("区划", lambda r: region(r.get("region_code"))),
        ("资金来源", lambda r: label(r.get("funding_source"), "funding")),
        ("服务机构编号", text("provider_id")),
        ("老人编号", text("beneficiary_id")),
        ("借方（元）", yuan("debit_fen")),
        ("贷方（元）", yuan("credit_fen")),
        ("余额（元）", yuan("balance_fen")),
    ]


def trial_balance_rows(tb: Mapping[str, Any]) -> list[Row]:
    """One row an account, then 合计 with the debit and credit totals (equal when the books
    balance)."""
    debit, credit = int(tb.get("total_debit_fen") or 0), int(tb.get("total_credit_fen") or 0)
    total = {
        "total": "合计",
        "debit_fen": debit,
        "credit_fen": credit,
        "balance_fen": debit - credit,
    }
    return [*(tb.get("accounts") or []), total]


# --- entries (auditors) -------------------------------------------------------------------


def _staff(entry: Row) -> str:
    details = entry.get("details") or {}
    return str(details.get("staff_id") or "") if isinstance(details, Mapping) else ""


def entry_columns(programs: Mapping[str, str]) -> list[Column]:
    """The journal's columns; `programs` names by code the programmes the web has no word of
    its own for (a city's own programme is data)."""
    return [
        ("序号", text("seq")),
        (
            "分账簿",
            lambda r: "总账" if r.get("book") in (None, "", "main") else region(f"{r['book']}00"),
        ),
        ("类型", lambda r: label(r.get("kind"), "entry_kind")),
        ("记账时间（北京时间）", lambda r: local_time(r.get("posted_at"), "%Y-%m-%d %H:%M:%S")),
        ("月份", text("period")),
        ("行", text("line")),
        ("科目代码", text("account")),
        ("科目名称", lambda r: label(r.get("account_name"), "account")),
        ("借方（元）", lambda r: export.yuan_cell(max(int(r.get("amount_fen") or 0), 0))),
        ("贷方（元）", lambda r: export.yuan_cell(max(-int(r.get("amount_fen") or 0), 0))),
        (
            "补贴项目",
            lambda r: program_name(r, names=programs) if r.get("program_code") else "",
        ),
        ("区划", lambda r: region(r.get("region_code"))),
        ("资金来源", lambda r: label(r.get("funding_source"), "funding")),
        ("服务机构编号", text("provider_id")),
        ("老人编号", text("beneficiary_id")),
        ("补贴券编号", text("voucher_id")),
        ("摘要", text("memo")),
        ("操作员", _staff),
        ("分录编号", text("entry_id")),
        ("分录哈希", text("hash")),
    ]


def entry_rows(entries: Iterable[Row]) -> list[Row]:
    """One row a posting, with its entry's fields."""
    return [{**e, **p, "entry_id": e.get("id")} for e in entries for p in e.get("postings") or []]
