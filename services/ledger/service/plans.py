"""What each accounting event posts: pure rules, no database (tested without one).

Every entry here is balanced by construction; the database checks it again at COMMIT.
All accounts of an entry carry the same region (the budget region), so every regional
trial balance balances on its own. Postings are debit positive, credit negative.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Required, TypedDict, Unpack

from services.common.ids import new_uuid
from services.common.money import allocate
from services.ledger.service import chart
from services.ledger.service.chart import AccountKey


@dataclass
class PostingPlan:
    account: AccountKey
    amount_fen: int


@dataclass
class EntryPlan:
    kind: str
    postings: list[PostingPlan]
    created_by: str
    program_code: str | None = None
    region_code: str | None = None
    provider_id: str | None = None
    beneficiary_id: str | None = None
    voucher_id: str | None = None
    ref: str | None = None
    event_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    reverses_entry_id: uuid.UUID | None = None
    memo: str | None = None
    details: dict[str, Any] | None = None  # who and why (hashed when present)
    id: uuid.UUID = field(default_factory=new_uuid)
    already_reversed: bool = False
    in_db: bool = False  # loaded from the journal (not planned in this transaction)

    def deltas(self) -> dict[AccountKey, int]:
        out: dict[AccountKey, int] = {}
        for p in self.postings:
            out[p.account] = out.get(p.account, 0) + p.amount_fen
        return out


class EntryDims(TypedDict, total=False):
    """What the caller adds to an event's entry: who posts it, for which event under which
    key, and the references it carries."""

    created_by: Required[str]
    event_id: uuid.UUID | None
    idempotency_key: str | None
    voucher_id: str | None
    ref: str | None
    memo: str | None
    details: dict[str, Any] | None


def split_by_source(amount_fen: int, shares_bp: Mapping[str, int]) -> list[tuple[str, int]]:
    """Split an amount across funding sources by their basis-point shares.

    Sources are taken in sorted order of their names and split with money.allocate (largest
    remainder, ties to the earlier source), so every service computing the split gets the
    same fen; the parts always sum to the amount. Sources whose part is zero are left out.
    """
    return list(_split(amount_fen, tuple(shares_bp.items())))


@lru_cache(maxsize=4096)
def _split(amount_fen: int, shares: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    """`split_by_source`, remembered: a programme's events split a few amounts (a meal's
    subsidy) by the same shares over and over."""
    ordered = sorted(shares)
    parts = allocate(amount_fen, [bp for _, bp in ordered])
    return tuple((s, part) for (s, _), part in zip(ordered, parts, strict=True) if part != 0)


def appropriation(
    *,
    program_code: str,
    region_code: str,
    by_source: Mapping[str, int],
    created_by: str,
    idempotency_key: str,
    memo: str | None,
) -> EntryPlan:
    """Budget appropriated: treasury cash Dr / budget available Cr, per funding source."""
    postings: list[PostingPlan] = []
    for source in sorted(by_source):
        amount = by_source[source]
        postings.append(
            PostingPlan(AccountKey(chart.TREASURY_CASH, program_code, region_code, source), amount)
        )
        postings.append(
            PostingPlan(
                AccountKey(chart.BUDGET_AVAILABLE, program_code, region_code, source), -amount
            )
        )
    return EntryPlan(
        "appropriation",
        postings,
        created_by,
        program_code=program_code,
        region_code=region_code,
        idempotency_key=idempotency_key,
        memo=memo,
    )


def commitment(
    *,
    purpose: str,
    program_code: str,
    budget_region_code: str,
    amount_fen: int,
    shares_bp: Mapping[str, int],
    created_by: str,
    idempotency_key: str,
    ref: str,
) -> EntryPlan:
    """Budget committed at issuance: budget available Dr (split by funding source) /
    vouchers outstanding Cr (or committed cash benefits, for purpose cash_benefit)."""
    liability = (
        chart.CASH_BENEFITS_COMMITTED if purpose == "cash_benefit" else chart.VOUCHERS_OUTSTANDING
    )
    postings = [
        PostingPlan(
            AccountKey(chart.BUDGET_AVAILABLE, program_code, budget_region_code, source), part
        )
        for source, part in split_by_source(amount_fen, shares_bp)
    ]
    postings.append(
        PostingPlan(AccountKey(liability, program_code, budget_region_code), -amount_fen)
    )
    return EntryPlan(
        "commitment",
        postings,
        created_by,
        program_code=program_code,
        region_code=budget_region_code,
        idempotency_key=idempotency_key,
        ref=ref,
    )


def _expense(program_code: str, region: str, parts: Iterable[tuple[str, int]]) -> list[PostingPlan]:
    """Expense recognised when the money is earned by someone: subsidy expense Dr /
    budget expended Cr per funding source (the budget itself left 3001 at commitment)."""
    out: list[PostingPlan] = []
    for source, part in parts:
        out.append(
            PostingPlan(chart.key(chart.SUBSIDY_EXPENSE, program_code, region, source), part)
        )
        out.append(
            PostingPlan(chart.key(chart.BUDGET_EXPENDED, program_code, region, source), -part)
        )
    return out


def redemption_details(
    *,
    terminal_id: str | None,
    staff_id: str | None,
    service_code: str | None,
    gross_fen: int,
    copay_fen: int,
) -> dict[str, Any]:
    """Who and why of a redemption's entry: the terminal and staff member (when the voucher
    service sent them), the service item and the gross bill with its co-payment."""
    out: dict[str, Any] = {"gross_fen": gross_fen, "copay_fen": copay_fen}
    for name, value in (
        ("terminal_id", terminal_id),
        ("staff_id", staff_id),
        ("service_code", service_code),
    ):
        if value is not None:
            out[name] = value
    return out


def redemption(
    *,
    program_code: str,
    budget_region_code: str,
    provider_id: str,
    subsidy_fen: int,
    shares_bp: Mapping[str, int],
    beneficiary_id: str | None = None,
    **dims: Unpack[EntryDims],
) -> EntryPlan:
    """Redemption: vouchers outstanding Dr / provider payable Cr split by funding source.
    Its expense is recognised by the `expense_recognition` entry of the same transaction
    (one for all the redemptions of a program and budget region posted together)."""
    parts = split_by_source(subsidy_fen, shares_bp)
    postings = [
        PostingPlan(
            chart.key(chart.VOUCHERS_OUTSTANDING, program_code, budget_region_code), subsidy_fen
        )
    ]
    postings += [
        PostingPlan(
            chart.key(
                chart.PROVIDER_PAYABLE, program_code, budget_region_code, source, provider_id
            ),
            -part,
        )
        for source, part in parts
    ]
    return EntryPlan(
        "redemption",
        postings,
        program_code=program_code,
        region_code=budget_region_code,
        provider_id=provider_id,
        beneficiary_id=beneficiary_id,
        **dims,
    )


EXPENSE_RECOGNITION = "expense_recognition"


def _payable_parts(entry: EntryPlan) -> list[tuple[str, int]]:
    """What a redemption credited its provider, per funding source (in line order)."""
    return [
        (p.account.funding_source or "", -p.amount_fen)
        for p in entry.postings
        if p.account.code == chart.PROVIDER_PAYABLE
    ]


def _own_expense(entry: EntryPlan) -> list[PostingPlan]:
    """The 5001 and 3002 postings an entry carries itself (a cash benefit; a redemption posted
    before the batch's expense entry, 5 Dec 2026)."""
    return [
        p
        for p in entry.postings
        if p.account.code in (chart.SUBSIDY_EXPENSE, chart.BUDGET_EXPENDED)
    ]


def redemption_expense(entry: EntryPlan) -> list[PostingPlan]:
    """The expense pair per funding source a redemption's subsidy recognised: the pair on the
    entry itself, else its share of its transaction's `expense_recognition` entry
    (`implied_expense`)."""
    return _own_expense(entry) or implied_expense(entry)


def implied_expense(entry: EntryPlan) -> list[PostingPlan]:
    """A redemption's share of the `expense_recognition` entry posted with it, per funding
    source as its payable (none for any other entry, or one that carries its own pair)."""
    if entry.kind != "redemption" or _own_expense(entry):
        return []
    return _expense(entry.program_code or "", entry.region_code or "", _payable_parts(entry))


def _expense_totals(
    redemptions: Iterable[EntryPlan],
) -> dict[tuple[str, str], tuple[int, list[tuple[str, int]]]]:
    """Per (program, budget region), in order: how many redemptions, and what they credited
    their providers per funding source (sources in name order, zero totals left out)."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    counts: dict[tuple[str, str], int] = {}
    for entry in redemptions:
        key = (entry.program_code or "", entry.region_code or "")
        by_source = totals.setdefault(key, {})
        for source, part in _payable_parts(entry):
            by_source[source] = by_source.get(source, 0) + part
        counts[key] = counts.get(key, 0) + 1
    return {
        key: (counts[key], [(s, a) for s, a in sorted(by_source.items()) if a])
        for key, by_source in sorted(totals.items())
    }


def expense_accounts(redemptions: Iterable[EntryPlan]) -> set[AccountKey]:
    """The accounts `expense_recognition` may post to for these redemptions (opened and read
    before the batch's events are decided)."""
    return {
        p.account
        for (program_code, region_code), (_, parts) in _expense_totals(redemptions).items()
        for p in _expense(program_code, region_code, parts)
    }


def expense_recognition(redemptions: Iterable[EntryPlan], *, created_by: str) -> list[EntryPlan]:
    """Subsidy expense Dr / budget expended Cr per funding source for the redemptions posted
    together: one entry per program and budget region, in the same transaction (and book) as
    the redemptions, so every balance is exact at every COMMIT while a redemption writes 3
    postings instead of 7 (docs/ledger.md, "Expense recognition"). `details` counts the
    redemptions it covers; they are the `redemption` entries of its transaction (`txid`)."""
    out: list[EntryPlan] = []
    for (program_code, region_code), (count, parts) in _expense_totals(redemptions).items():
        if not parts:
            continue
        entry_id = new_uuid()
        out.append(
            EntryPlan(
                EXPENSE_RECOGNITION,
                _expense(program_code, region_code, parts),
                created_by,
                program_code=program_code,
                region_code=region_code,
                idempotency_key=f"expense:{entry_id}",
                details={"redemptions": count},
                id=entry_id,
            )
        )
    return out


# A cash benefit entry's `details` key naming the month the benefit is for (its payment
# batch's month, settlement/repository/cash_benefits.py); the entry's own `period` is the
# month it was posted in.
BENEFIT_MONTH = "benefit_period"


def cash_benefit(
    *,
    program_code: str,
    budget_region_code: str,
    beneficiary_id: str,
    amount_fen: int,
    shares_bp: Mapping[str, int],
    **dims: Unpack[EntryDims],
) -> EntryPlan:
    """Cash benefit issued: committed cash benefits Dr / payable to the beneficiary Cr split
    by funding source, plus the expense recognition pair."""
    parts = split_by_source(amount_fen, shares_bp)
    postings = [
        PostingPlan(
            AccountKey(chart.CASH_BENEFITS_COMMITTED, program_code, budget_region_code), amount_fen
        )
    ]
    postings += [
        PostingPlan(
            AccountKey(
                chart.BENEFICIARY_PAYABLE,
                program_code,
                budget_region_code,
                source,
                beneficiary_id=beneficiary_id,
            ),
            -part,
        )
        for source, part in parts
    ]
    postings += _expense(program_code, budget_region_code, parts)
    return EntryPlan(
        "cash_benefit",
        postings,
        program_code=program_code,
        region_code=budget_region_code,
        beneficiary_id=beneficiary_id,
        **dims,
    )


def expiry(
    *,
    program_code: str,
    budget_region_code: str,
    released_fen: int,
    shares_bp: Mapping[str, int],
    beneficiary_id: str | None = None,
    **dims: Unpack[EntryDims],
) -> EntryPlan:
    """Unused balance expired: vouchers outstanding Dr / budget available Cr, split by source."""
    postings = [
        PostingPlan(
            AccountKey(chart.VOUCHERS_OUTSTANDING, program_code, budget_region_code), released_fen
        )
    ]
    postings += [
        PostingPlan(
            AccountKey(chart.BUDGET_AVAILABLE, program_code, budget_region_code, source), -part
        )
        for source, part in split_by_source(released_fen, shares_bp)
    ]
    return EntryPlan(
        "expiry",
        postings,
        program_code=program_code,
        region_code=budget_region_code,
        beneficiary_id=beneficiary_id,
        **dims,
    )


def copay_is_posted(method: str) -> bool:
    """Only a co-payment the department collects (online, `stripe`) is posted. Cash is taken
    by the provider at the counter: the department never holds it and owes nothing for it,
    so it touches neither co-payment clearing nor provider payable (docs/copayments.md)."""
    return method == "stripe"


def copay(
    *,
    received: bool,
    program_code: str,
    budget_region_code: str,
    provider_id: str,
    amount_fen: int,
    beneficiary_id: str | None = None,
    **dims: Unpack[EntryDims],
) -> EntryPlan:
    """Online co-payment received: co-payment clearing Dr / provider payable Cr (funding
    source `copay`); refunded: the mirror. Cash posts nothing (`copay_is_posted`). See
    docs/settlement.md."""
    sign = 1 if received else -1
    postings = [
        PostingPlan(
            AccountKey(
                chart.COPAY_CLEARING, program_code, budget_region_code, provider_id=provider_id
            ),
            sign * amount_fen,
        ),
        PostingPlan(
            AccountKey(
                chart.PROVIDER_PAYABLE,
                program_code,
                budget_region_code,
                "copay",
                provider_id=provider_id,
            ),
            -sign * amount_fen,
        ),
    ]
    return EntryPlan(
        "copay_received" if received else "copay_refunded",
        postings,
        program_code=program_code,
        region_code=budget_region_code,
        provider_id=provider_id,
        beneficiary_id=beneficiary_id,
        **dims,
    )


# Entries a finance officer makes by hand; every other kind is made from another service's
# event or process (redemption, redemption_void, expiry, cash_benefit, copay_*, commitment,
# settlement_payment, benefit_payment) and changes only through that service.
MANUAL_KINDS = frozenset({"appropriation", "reversal"})


def reversible_by_hand(kind: str) -> bool:
    """Only manual entries may be reversed by a reversal typed into the ledger; an entry made
    from another service's event is corrected through that service (a void, a recovery), so
    the ledger and that service never disagree about it (docs/ledger.md, "Corrections")."""
    return kind in MANUAL_KINDS


def reversal(
    original: EntryPlan,
    *,
    kind: str,
    created_by: str,
    idempotency_key: str,
    memo: str | None = None,
    event_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> EntryPlan:
    """The mirror image of an entry: every posting negated, the same dimensions."""
    return EntryPlan(
        kind,
        [PostingPlan(p.account, -p.amount_fen) for p in original.postings],
        created_by,
        program_code=original.program_code,
        region_code=original.region_code,
        provider_id=original.provider_id,
        beneficiary_id=original.beneficiary_id,
        voucher_id=original.voucher_id,
        ref=original.ref,
        reverses_entry_id=original.id,
        idempotency_key=idempotency_key,
        memo=memo,
        event_id=event_id,
        details=details,
    )


def void(
    original: EntryPlan,
    *,
    created_by: str,
    idempotency_key: str,
    memo: str | None,
    event_id: uuid.UUID,
    details: dict[str, Any] | None,
) -> EntryPlan:
    """A redemption voided: the mirror of its entry (`reverses_entry_id`) and of its share of
    the expense recognised with it (5001 Cr / 3002 Dr per funding source, when the expense
    was recognised by its transaction's `expense_recognition` entry)."""
    plan = reversal(
        original,
        kind="redemption_void",
        created_by=created_by,
        idempotency_key=idempotency_key,
        memo=memo,
        event_id=event_id,
        details=details,
    )
    plan.postings += [PostingPlan(p.account, -p.amount_fen) for p in implied_expense(original)]
    return plan


RECOVERY_KINDS = {"payable": "redemption_recovery", "receivable": "recovery_receivable"}


def recovery(
    original: EntryPlan,
    *,
    mode: str,
    destination: str,
    created_by: str,
    idempotency_key: str,
    event_id: uuid.UUID,
    memo: str | None,
) -> EntryPlan:
    """A wrongly paid redemption taken back (docs/ledger.md, "Recoveries").

    Provider payable Dr for exactly what the redemption credited it (per funding source) and
    the expense recognition reversed (5001 Cr / 3002 Dr per source); the subsidy goes back
    to vouchers outstanding (2101 Cr, destination `voucher`: the person's balance was
    restored) or to the budget (3001 Cr per source, destination `budget`). Mode `payable`
    (kind `redemption_recovery`): the redemption was not claimed and never will be, so the
    debit cancels its payable. Mode `receivable` (kind `recovery_receivable`): it was claimed,
    perhaps paid; the debit is owed back by the provider and is netted from its next claims.
    Not a reversal: the redemption stays posted (the voucher service keeps it live)."""
    take: list[PostingPlan] = []
    for p in original.postings:
        code = p.account.code
        if code == chart.PROVIDER_PAYABLE or (
            code == chart.VOUCHERS_OUTSTANDING and destination == "voucher"
        ):
            take.append(PostingPlan(p.account, -p.amount_fen))
    take += [PostingPlan(p.account, -p.amount_fen) for p in redemption_expense(original)]
    if destination != "voucher":
        for p in original.postings:
            if p.account.code == chart.PROVIDER_PAYABLE:
                budget = AccountKey(
                    chart.BUDGET_AVAILABLE,
                    p.account.program_code,
                    p.account.region_code,
                    p.account.funding_source,
                )
                take.append(PostingPlan(budget, p.amount_fen))
    return EntryPlan(
        RECOVERY_KINDS[mode],
        take,
        created_by,
        program_code=original.program_code,
        region_code=original.region_code,
        provider_id=original.provider_id,
        beneficiary_id=original.beneficiary_id,
        voucher_id=original.voucher_id,
        ref=original.ref,
        idempotency_key=idempotency_key,
        memo=memo,
        event_id=event_id,
    )


def overdraws(balance_fen: int, delta_fen: int, key: AccountKey) -> bool:
    """Would this move take a no-overdraft account to its abnormal side?"""
    spec = key.spec
    return spec.no_overdraft and (balance_fen + delta_fen) * spec.normal_sign < 0
