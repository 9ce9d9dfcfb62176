"""The ledger's reads as files auditors open or import (pure: no I/O, no database).

Tables (CSV, XLSX) go through services.common.export, so every text cell is formula-safe.
Amounts stay integer fen, signed (debit positive) and split into debit and credit columns;
times are Beijing time with their offset, as the JSON answers.

The journal file set (`journal_zip`) is one zip: `README.md` and `schema.json` (what every
file and column means), `accounts.csv` (the chart: each account and its dimensions),
`entries.csv`, `postings.csv`, `entries.json` (the API's shape, which the verifier
audit/verify_ledger.py reads as is) and `checkpoints.jsonl` (the signed heads). docs/ledger.md
"For auditors" describes it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

from services.common.export import csv_bytes, table_file
from services.ledger.models import Account
from services.ledger.schemas import AnchorRead, EntryRead, StatementRead, TrialBalanceRead
from services.ledger.service.chart import CHART
from services.ledger.service.hashing import ENTRY_FIELDS, OPTIONAL_ENTRY_FIELDS

# Every field the entry's hash covers (service/hashing.py), then the chain's two hashes: an
# export from which anyone can recompute the chain.
ENTRY_COLUMNS = (*ENTRY_FIELDS, *OPTIONAL_ENTRY_FIELDS, "prev_hash", "hash")
POSTING_COLUMNS = (
    "entry_id",
    "line",
    "account_id",
    "account_code",
    "account_name",
    "amount_fen",
    "debit_fen",
    "credit_fen",
    "currency",
    "seq",
    "posted_at",
    "period",
    "program_code",
    "region_code",
    "funding_source",
    "provider_id",
    "beneficiary_id",
    "voucher_id",
)
# One row per posting with its entry's columns: the entries as one spreadsheet.
JOURNAL_COLUMNS = (
    "seq",
    "entry_id",
    "kind",
    "posted_at",
    "period",
    "line",
    "account_code",
    "account_name",
    "account_id",
    "debit_fen",
    "credit_fen",
    "currency",
    "program_code",
    "region_code",
    "funding_source",
    "provider_id",
    "beneficiary_id",
    "voucher_id",
    "ref",
    "memo",
    "details",
    "created_by",
    "reverses_entry_id",
    "hash",
)
ACCOUNT_COLUMNS = (
    "account_id",
    "code",
    "name",
    "kind",
    "normal_side",
    "program_code",
    "region_code",
    "funding_source",
    "provider_id",
    "beneficiary_id",
    "currency",
)
TRIAL_BALANCE_COLUMNS = (
    "as_of",
    "account_id",
    "code",
    "name",
    "kind",
    "program_code",
    "region_code",
    "funding_source",
    "provider_id",
    "beneficiary_id",
    "currency",
    "debit_fen",
    "credit_fen",
    "balance_fen",
)
STATEMENT_COLUMNS = (
    "account_id",
    "code",
    "seq",
    "entry_id",
    "line",
    "kind",
    "posted_at",
    "ref",
    "memo",
    "debit_fen",
    "credit_fen",
    "balance_fen",
    "provider_id",
    "beneficiary_id",
    "voucher_id",
)


def _debit(amount: int) -> int:
    return amount if amount > 0 else 0


def _credit(amount: int) -> int:
    return -amount if amount < 0 else 0


def _details(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_rows(entries: Sequence[EntryRead]) -> list[list[Any]]:
    rows = []
    for e in entries:
        d = e.model_dump()
        d["details"] = _details(d.get("details"))
        rows.append([d.get(c) for c in ENTRY_COLUMNS])
    return rows


def posting_rows(entries: Sequence[EntryRead]) -> list[list[Any]]:
    rows = []
    for e in entries:
        for p in e.postings:
            d = p.model_dump()
            d.update(
                account_code=p.account,
                debit_fen=_debit(p.amount_fen),
                credit_fen=_credit(p.amount_fen),
            )
            rows.append([d.get(c) for c in POSTING_COLUMNS])
    return rows


def journal_rows(entries: Sequence[EntryRead]) -> list[list[Any]]:
    rows = []
    for e in entries:
        for p in e.postings:
            d = {
                **p.model_dump(),
                **e.model_dump(exclude={"postings"}),
                "entry_id": e.id,
                "account_code": p.account,
                "debit_fen": _debit(p.amount_fen),
                "credit_fen": _credit(p.amount_fen),
                "program_code": p.program_code,
                "region_code": p.region_code,
                "provider_id": p.provider_id,
                "beneficiary_id": p.beneficiary_id,
                "voucher_id": p.voucher_id,
                "details": _details(getattr(e, "details", None)),
            }
            rows.append([d.get(c) for c in JOURNAL_COLUMNS])
    return rows


def account_rows(accounts: Sequence[Account]) -> list[list[Any]]:
    return [
        [
            str(a.id),
            a.code,
            CHART[a.code].name,
            CHART[a.code].kind,
            "debit" if CHART[a.code].normal_sign > 0 else "credit",
            a.program_code,
            a.region_code,
            a.funding_source,
            a.provider_id,
            a.beneficiary_id,
            a.currency.strip(),
        ]
        for a in accounts
    ]


def trial_balance_rows(tb: TrialBalanceRead) -> list[list[Any]]:
    """One row per account, then `TOTAL` (in the code column) with the debit and credit
    totals, which are equal when the books balance."""
    rows: list[list[Any]] = [
        [tb.as_of, *(getattr(a, c) for c in TRIAL_BALANCE_COLUMNS[1:])] for a in tb.accounts
    ]
    total: list[Any] = [None] * len(TRIAL_BALANCE_COLUMNS)
    total[0], total[2] = tb.as_of, "TOTAL"
    total[-3:] = [tb.total_debit_fen, tb.total_credit_fen, tb.total_debit_fen - tb.total_credit_fen]
    rows.append(total)
    return rows


def statement_rows(st: StatementRead) -> list[list[Any]]:
    def edge(kind: str, when: str | None, balance: int) -> list[Any]:
        row: list[Any] = [None] * len(STATEMENT_COLUMNS)
        row[0], row[1], row[5], row[6], row[11] = st.account_id, st.code, kind, when, balance
        return row

    rows: list[list[Any]] = [edge("opening", st.from_, st.opening_balance_fen)]
    for line in st.lines:
        rows.append(
            [
                st.account_id,
                st.code,
                line.seq,
                line.entry_id,
                line.line,
                line.kind,
                line.posted_at,
                line.ref,
                line.memo,
                _debit(line.amount_fen),
                _credit(line.amount_fen),
                line.balance_fen,
                line.provider_id,
                line.beneficiary_id,
                line.voucher_id,
            ]
        )
    rows.append(edge("closing", st.as_of, st.closing_balance_fen))
    return rows


def journal_table(fmt: str, entries: Sequence[EntryRead]) -> bytes:
    return table_file(fmt, "journal", JOURNAL_COLUMNS, journal_rows(entries))


def trial_balance_table(fmt: str, tb: TrialBalanceRead) -> bytes:
    return table_file(fmt, "trial_balance", TRIAL_BALANCE_COLUMNS, trial_balance_rows(tb))


def statement_table(fmt: str, st: StatementRead) -> bytes:
    return table_file(fmt, f"statement_{st.code}", STATEMENT_COLUMNS, statement_rows(st))


# --- the journal file set ------------------------------------------------------------------

FILES: dict[str, dict[str, Any]] = {
    "accounts.csv": {
        "what": "the chart of accounts: one row per account (code and its dimensions)",
        "key": ["account_id"],
        "columns": {
            "account_id": "the account's id (postings name it)",
            "code": "chart code (docs/ledger.md, Chart of accounts)",
            "name": "chart name",
            "kind": "asset, liability, net_assets, revenue, expense",
            "normal_side": "debit or credit",
            "program_code": "programme dimension",
            "region_code": "budget region (GB/T 2260)",
            "funding_source": "funding source dimension (central, regional, copay, ...)",
            "provider_id": "provider dimension",
            "beneficiary_id": "beneficiary dimension",
            "currency": "ISO 4217",
        },
    },
    "entries.csv": {
        "what": "journal entries (voucher headers): one row per entry, in seq order",
        "key": ["id"],
        "columns": {
            "id": "entry id (UUID)",
            "book": "the book: the city-level region prefix (4 digits), or 'main'",
            "seq": "position in the chain, 1, 2, 3, ... without gaps",
            "kind": "appropriation, commitment, redemption, expense_recognition (the "
            "expense of the redemptions of its transaction: details.redemptions), "
            "redemption_void, expiry, cash_benefit, copay_received, copay_refunded, "
            "settlement_payment, benefit_payment, redemption_recovery, "
            "recovery_receivable, reversal",
            "posted_at": "posting time, Beijing time with offset",
            "period": "accounting period YYYY-MM (the Beijing month of posted_at)",
            "program_code": "programme",
            "region_code": "budget region",
            "provider_id": "provider, when the entry concerns one",
            "beneficiary_id": "beneficiary, when the entry concerns one",
            "voucher_id": "voucher, when the entry concerns one",
            "ref": "the source record (redemption id, claim id, ...)",
            "event_id": "the outbox event that made it, if any",
            "idempotency_key": "the request or event key that made it (unique)",
            "reverses_entry_id": "the entry it reverses, if a reversal or void",
            "memo": "reason or description (a manual entry's reason)",
            "created_by": "the credential that made it (finance:..., service:voucher, ...)",
            "details": "who and why (terminal, staff, service item, gross bill), JSON",
            "prev_hash": "hash of the entry before (hex)",
            "hash": "SHA-256(prev_hash || canonical form) (hex; docs/ledger.md)",
        },
    },
    "postings.csv": {
        "what": "the lines of each entry (debit positive, credit negative)",
        "key": ["entry_id", "line"],
        "columns": {
            "entry_id": "the entry (entries.csv id)",
            "line": "line number within the entry, from 1",
            "account_id": "the account (accounts.csv account_id)",
            "account_code": "its chart code",
            "account_name": "its chart name",
            "amount_fen": "signed amount in fen (1/100 yuan), debit positive",
            "debit_fen": "the amount when a debit, else 0",
            "credit_fen": "minus the amount when a credit, else 0",
            "currency": "ISO 4217",
            "seq": "the entry's seq",
            "posted_at": "the entry's time",
            "period": "the entry's period",
            "program_code": "dimension",
            "region_code": "dimension",
            "funding_source": "dimension",
            "provider_id": "dimension",
            "beneficiary_id": "dimension",
            "voucher_id": "dimension",
        },
    },
    "entries.json": {
        "what": "the same entries with their postings as GET /v1/entries answers them, and "
        "`anchors`: the root chain's anchors up to as_of (every book's head, chained): "
        "the input of audit/verify_ledger.py",
    },
    "checkpoints.jsonl": {
        "what": "the ledger's signed checkpoints of the root chain's head and key hand-overs, "
        "one JSON object a line (docs/ledger.md, Signed checkpoints)",
    },
}

README = """# Yiyang ledger: journal file set

as_of: {as_of}   entries: {entries}   postings: {postings}   accounts: {accounts}

Files (schema.json lists every column):
{files}

Amounts are integer fen (1 yuan = 100 fen), debit positive. Times are Beijing time with
their offset. Every entry balances (the sum of its postings is 0).

Check the chain and the signed checkpoints (Python 3.11+, `pip install cryptography` for
the signatures):

    python3 verify_ledger.py journal.zip --checkpoints checkpoints.jsonl --trust <public key>

verify_ledger.py is audit/verify_ledger.py of the Yiyang repository; the public key is the
one the ledger's operator gave you (GET /v1/chain/public-key). docs/ledger.md, "For
auditors", explains every step.
"""


def journal_zip(
    as_of: str,
    accounts: Sequence[Account],
    entries: Sequence[EntryRead],
    checkpoint_lines: Sequence[str],
    anchors: Sequence[AnchorRead] = (),
) -> bytes:
    """The whole journal as one self-describing zip (see the module docstring)."""
    n_postings = sum(len(e.postings) for e in entries)
    files = "\n".join(f"- {name}: {spec['what']}" for name, spec in FILES.items())
    readme = README.format(
        as_of=as_of,
        entries=len(entries),
        postings=n_postings,
        accounts=len(accounts),
        files=files,
    )
    schema = {"as_of": as_of, "encoding": "UTF-8, CSV with a header row (RFC 4180)", **FILES}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.md", readme)
        z.writestr("schema.json", json.dumps(schema, ensure_ascii=False, indent=2))
        z.writestr("accounts.csv", csv_bytes(ACCOUNT_COLUMNS, account_rows(accounts)))
        z.writestr("entries.csv", csv_bytes(ENTRY_COLUMNS, entry_rows(entries)))
        z.writestr("postings.csv", csv_bytes(POSTING_COLUMNS, posting_rows(entries)))
        z.writestr(
            "entries.json",
            json.dumps(
                {
                    "as_of": as_of,
                    "entries": [e.model_dump() for e in entries],
                    "anchors": [a.model_dump() for a in anchors],
                },
                ensure_ascii=False,
            ),
        )
        z.writestr("checkpoints.jsonl", "".join(line + "\n" for line in checkpoint_lines))
    return buf.getvalue()
