"""The payment instruction file we write and the bank's confirmation file we read
(layouts in docs/settlement.md, "Payment batches"), and what a confirmed payment posts."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.ledger.service import chart
from services.ledger.service.chart import AccountKey
from services.ledger.service.plans import EntryPlan, PostingPlan
from services.ledger.settlement.errors import ConfirmationInvalid

FILE_COLUMNS = (
    "batch_reference",
    "line_reference",
    "payee_name",
    "bank_name",
    "account_number",
    "amount_fen",
    "purpose",
)
CONFIRMATION_COLUMNS = ("batch_reference", "line_reference", "status", "amount_fen")
COPAY_SOURCE = "copay"  # the funding source of co-payments on provider payable (plans.copay)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One payment of the instruction file (the account number in the clear)."""

    reference: str
    payee_name: str
    bank_name: str
    account_number: str
    amount_fen: int
    purpose: str


@dataclass(frozen=True, slots=True)
class Confirmed:
    """One row of the bank's confirmation file, checked against the batch."""

    line_reference: str
    status: str  # paid | failed
    bank_reference: str | None
    reason: str | None


def instruction_file(reference: str, lines: Sequence[Instruction]) -> bytes:
    """The payment instruction CSV (layout in docs/settlement.md)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(FILE_COLUMNS)
    for ln in lines:
        w.writerow(
            [
                reference,
                ln.reference,
                ln.payee_name,
                ln.bank_name,
                ln.account_number,
                ln.amount_fen,
                ln.purpose,
            ]
        )
    return out.getvalue().encode("utf-8")


def parse_confirmation(raw: bytes, reference: str, amounts: Mapping[str, int]) -> list[Confirmed]:
    """Rows of the bank's confirmation file, each checked against the batch (`amounts`: each
    line reference of the batch and its amount)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfirmationInvalid("The file is not UTF-8 text.", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CONFIRMATION_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfirmationInvalid(
            "Columns are missing.", field="file", details={"missing": missing}
        )
    rows: list[Confirmed] = []
    problems: list[dict[str, object]] = []
    seen: set[str] = set()
    for n, r in enumerate(reader, 2):
        ref, status = (r.get("line_reference") or "").strip(), (r.get("status") or "").strip()
        amount = (r.get("amount_fen") or "").strip()
        owed = amounts.get(ref)
        if (r.get("batch_reference") or "").strip() != reference:
            problems.append({"row": n, "field": "batch_reference", "problem": "OTHER_BATCH"})
        elif owed is None:
            problems.append({"row": n, "field": "line_reference", "problem": "UNKNOWN_LINE"})
        elif ref in seen:
            problems.append({"row": n, "field": "line_reference", "problem": "DUPLICATE_LINE"})
        elif status not in ("paid", "failed"):
            problems.append({"row": n, "field": "status", "problem": "INVALID_STATUS"})
        elif not amount.isdigit() or int(amount) != owed:
            problems.append({"row": n, "field": "amount_fen", "problem": "AMOUNT_MISMATCH"})
        else:
            seen.add(ref)
            rows.append(
                Confirmed(
                    line_reference=ref,
                    status=status,
                    bank_reference=(r.get("bank_reference") or "").strip()[:100] or None,
                    reason=(r.get("reason") or "").strip()[:500] or None,
                )
            )
    if problems:
        raise ConfirmationInvalid(field="file", details={"rows": problems[:100]})
    if not rows:
        raise ConfirmationInvalid("The file has no rows.", field="file")
    return rows


def benefit_payment_plan(
    line_reference: str,
    beneficiary_id: str,
    owed: list[tuple[AccountKey, int]],
    created_by: str,
    bank_reference: str | None,
) -> EntryPlan:
    """Cash benefit paid: beneficiary payable Dr / treasury cash Cr, per 2202 account."""
    postings: list[PostingPlan] = []
    for key, amount in owed:
        postings.append(PostingPlan(key, amount))
        postings.append(
            PostingPlan(
                AccountKey(
                    chart.TREASURY_CASH, key.program_code, key.region_code, key.funding_source
                ),
                -amount,
            )
        )
    first = owed[0][0]
    return EntryPlan(
        "benefit_payment",
        postings,
        created_by,
        program_code=first.program_code,
        region_code=first.region_code,
        beneficiary_id=beneficiary_id,
        ref=line_reference,
        idempotency_key=f"payment:{line_reference}",
        memo=bank_reference,
    )


def payment_plan(
    line_reference: str,
    provider_id: str,
    owed: list[tuple[AccountKey, int]],
    created_by: str,
    bank_reference: str | None,
) -> EntryPlan:
    """Settlement paid: provider payable Dr per payable account, against treasury cash Cr
    (same program, region and funding source) for the subsidy, and against co-payment
    clearing Cr (the provider's, same program and region) for the online co-payments (funding
    source `copay`), which were collected into clearing, not the treasury. Both parts of the
    provider's payable are cleared by the one entry."""
    postings: list[PostingPlan] = []
    for key, amount in owed:
        postings.append(PostingPlan(key, amount))
        if key.funding_source == COPAY_SOURCE:
            counter = AccountKey(
                chart.COPAY_CLEARING, key.program_code, key.region_code, provider_id=key.provider_id
            )
        else:
            counter = AccountKey(
                chart.TREASURY_CASH, key.program_code, key.region_code, key.funding_source
            )
        postings.append(PostingPlan(counter, -amount))
    first = owed[0][0]
    return EntryPlan(
        "settlement_payment",
        postings,
        created_by,
        program_code=first.program_code,
        region_code=first.region_code,
        provider_id=provider_id,
        ref=line_reference,
        idempotency_key=f"payment:{line_reference}",
        memo=bank_reference,
    )
