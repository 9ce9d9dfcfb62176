"""The chart of accounts: codes, their nature, and the dimensions each is kept by (pure).

Balances are signed fen, debit positive; `normal_sign` says which side an account normally
sits on (+1 debit, -1 credit). A no-overdraft account may never cross to its abnormal side:
the database refuses it (ck_account_no_overdraft and the posting trigger). See docs/ledger.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class AccountSpec:
    code: str
    name: str
    kind: str
    normal_sign: int
    no_overdraft: bool
    # entry dimensions that can appear on this account's postings (answerable filters)
    filterable: frozenset[str]


_ALL = frozenset({"provider_id", "beneficiary_id", "voucher_id"})

CHART: dict[str, AccountSpec] = {
    s.code: s
    for s in (
        AccountSpec("1001", "treasury_cash", "asset", 1, False, frozenset()),
        AccountSpec("1102", "copay_clearing", "asset", 1, False, _ALL),
        AccountSpec("2101", "vouchers_outstanding", "liability", -1, True, _ALL),
        AccountSpec(
            "2102", "cash_benefits_committed", "liability", -1, True, frozenset({"beneficiary_id"})
        ),
        AccountSpec("2201", "provider_payable", "liability", -1, False, _ALL),
        AccountSpec(
            "2202", "beneficiary_payable", "liability", -1, False, frozenset({"beneficiary_id"})
        ),
        AccountSpec(
            "3001",
            "budget_available",
            "net_assets",
            -1,
            True,
            frozenset({"beneficiary_id", "voucher_id"}),
        ),
        AccountSpec("3002", "budget_expended", "net_assets", -1, False, _ALL),
        AccountSpec("5001", "subsidy_expense", "expense", 1, False, _ALL),
    )
}

TREASURY_CASH = "1001"
COPAY_CLEARING = "1102"
VOUCHERS_OUTSTANDING = "2101"
CASH_BENEFITS_COMMITTED = "2102"
PROVIDER_PAYABLE = "2201"
BENEFICIARY_PAYABLE = "2202"
BUDGET_AVAILABLE = "3001"
BUDGET_EXPENDED = "3002"
SUBSIDY_EXPENSE = "5001"

# Hot accounts: every redemption of a region touches its vouchers outstanding, subsidy expense
# and budget expended, and every commitment and expiry its budget available. Each keeps its
# balance in HOT_BALANCE_SLOTS slots (the account row and account_balance_slot rows; migration
# ledger_1101), so that concurrent writers of one such account do not queue on one row lock;
# its balance is their sum (docs/ledger.md, "Hot accounts").
HOT_CODES = frozenset({VOUCHERS_OUTSTANDING, BUDGET_AVAILABLE, BUDGET_EXPENDED, SUBSIDY_EXPENSE})
HOT_BALANCE_SLOTS = 4


def balance_slots(code: str) -> int:
    """How many slots an account of this code keeps its balance in (fixed when opened)."""
    return HOT_BALANCE_SLOTS if code in HOT_CODES else 1


@dataclass(frozen=True)
class AccountKey:
    """An account is identified by its code and its dimensions (NULL where not kept)."""

    code: str
    program_code: str | None = None
    region_code: str | None = None
    funding_source: str | None = None
    provider_id: str | None = None
    beneficiary_id: str | None = None
    currency: str = "CNY"
    # Keys are dict keys many times per posted event (balances, accounts, deltas): the hash of
    # the seven fields is computed once.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self.as_tuple()))

    def __hash__(self) -> int:
        return self._hash

    @property
    def spec(self) -> AccountSpec:
        return CHART[self.code]

    def sort_key(self) -> tuple[str, ...]:
        return tuple(v or "" for v in self.as_tuple())

    def as_tuple(self) -> tuple[str | None, ...]:
        return (
            self.code,
            self.program_code,
            self.region_code,
            self.funding_source,
            self.provider_id,
            self.beneficiary_id,
            self.currency,
        )


@lru_cache(maxsize=1 << 16)
def key(
    code: str,
    program_code: str | None = None,
    region_code: str | None = None,
    funding_source: str | None = None,
    provider_id: str | None = None,
) -> AccountKey:
    """The AccountKey of these dimensions, one shared instance per key while it is in use:
    the planning of every event names the same few accounts (its region's vouchers
    outstanding, its provider's payable), and a key made once is hashed once and compares by
    identity first. Keys are immutable, so sharing one is safe."""
    return AccountKey(code, program_code, region_code, funding_source, provider_id)
