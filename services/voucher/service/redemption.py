"""The redemption rule (pure: no SQL, no FastAPI), and the refusals it can give.

The statement in repository/redemption.py (`REDEEM`) computes exactly the same thing inside
the one UPDATE that locks the voucher; tests/voucher/redeem/test_rule_matches_sql.py checks the
two agree on generated cases. When that statement finds nothing to do, the cold path loads the
voucher and asks this module why, so a refusal's code always comes from the rule written here.
The refusals are classes of the error catalogue (services/voucher/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.common.errors import AppError
from services.common.regions import significant_prefix
from services.voucher.errors import (
    BillTooSmall,
    DailyLimitReached,
    InvalidAmount,
    ProviderOutOfArea,
    RedemptionClaimed,
    VisitsUsedUp,
    VoidWindowClosed,
    VoucherExhausted,
)
from services.voucher.schemas.programs import SPEND_SCOPE_DIGITS

BASIS_POINTS = 10_000
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class VoucherState:
    """What the rule needs of a voucher: its balance, the program's rules copied onto it at
    issuance (None = no such limit) and what was used of it today (Asia/Shanghai)."""

    balance_fen: int
    ratio_bp: int | None = None
    per_use_fen: int | None = None
    per_txn_cap_fen: int | None = None
    day_cap_fen: int | None = None
    day_limit_count: int | None = None
    used_count_today: int = 0
    used_fen_today: int = 0
    # GB/T 2260 prefix a provider's region must start with (None = anywhere).
    spend_region_prefix: str | None = None
    # A service package's home visits left this period (None = not counted in visits).
    visits_left: int | None = None


@dataclass(frozen=True)
class Split:
    subsidy_fen: int
    copay_fen: int
    balance_after_fen: int


def spend_region_prefix(region_code: str, scope: str) -> str:
    """The area a voucher of a person living in `region_code` may be spent in, for a
    program's `spend_scope` (province, city, county): the significant prefix of the person's
    region (its first six digits) cut to that level. A person registered only at city level
    keeps the city even under a county scope. Same as SQL `region_spend_prefix`."""
    return significant_prefix(region_code[:6])[: SPEND_SCOPE_DIGITS[scope]]


def in_spend_area(prefix: str | None, provider_region: str | None) -> bool:
    """A provider may accept a voucher when its region lies inside the voucher's area."""
    return prefix is None or (provider_region or "").startswith(prefix)


def check_spend_area(prefix: str | None, provider_region: str | None) -> None:
    if not in_spend_area(prefix, provider_region):
        raise ProviderOutOfArea(field="provider_id")


def compute_split(
    voucher: VoucherState, gross_fen: int, provider_region: str | None = None
) -> Split:
    """The subsidy a voucher pays on a bill of `gross_fen`, and the co-payment.

    Rule (docs/architecture.md, "Programs and the voucher row"):

        want    = per_use_fen                      when the voucher pays a fixed amount per use
                                                   (and only when gross > per_use_fen)
                = floor(gross × ratio_bp / 10000)  otherwise (no ratio on the row = 100 %)
        subsidy = min(want, per_txn_cap, balance, day_cap − used today)
                  (an absent cap does not bind)
        co-payment = gross − subsidy

    Refused with PROVIDER_OUT_OF_AREA when the voucher has an area (`spend_region_prefix`)
    and the provider's region is not inside it; VISITS_USED_UP when a service package has no
    home visit left this period (each bill uses one); VOUCHER_EXHAUSTED when the balance is 0; DAILY_LIMIT_REACHED when today's
    count limit is reached or today's cap is used up; BILL_TOO_SMALL when the bill does not
    exceed a per-use subsidy or its share rounds to 0 fen. So a subsidy is always > 0,
    <= ratio × bill, <= balance, within every cap, and subsidy + co-payment = bill.
    """
    if gross_fen <= 0:
        raise InvalidAmount(field="gross_fen")
    check_spend_area(voucher.spend_region_prefix, provider_region)
    if voucher.visits_left is not None and voucher.visits_left <= 0:
        raise VisitsUsedUp()
    if voucher.balance_fen <= 0:
        raise VoucherExhausted()
    # (a refusal carries the figure it was refused on, for the counter to say)
    if voucher.day_limit_count is not None and voucher.used_count_today >= voucher.day_limit_count:
        raise DailyLimitReached(details={"day_limit_count": voucher.day_limit_count})
    day_left = None
    if voucher.day_cap_fen is not None:
        day_left = voucher.day_cap_fen - voucher.used_fen_today
        if day_left <= 0:
            raise DailyLimitReached(details={"day_cap_fen": voucher.day_cap_fen})
    if voucher.per_use_fen is not None:
        if gross_fen <= voucher.per_use_fen:
            raise BillTooSmall(field="gross_fen", details={"per_use_fen": voucher.per_use_fen})
        want = voucher.per_use_fen
    else:
        ratio = BASIS_POINTS if voucher.ratio_bp is None else voucher.ratio_bp
        want = gross_fen * ratio // BASIS_POINTS
    candidates = [want, voucher.balance_fen]
    if voucher.per_txn_cap_fen is not None:
        candidates.append(voucher.per_txn_cap_fen)
    if day_left is not None:
        candidates.append(day_left)
    subsidy = min(candidates)
    if subsidy <= 0:
        raise BillTooSmall(field="gross_fen")
    return Split(subsidy, gross_fen - subsidy, voucher.balance_fen - subsidy)


def local_day(now: datetime) -> date:
    """The calendar day in Asia/Shanghai: daily limits and same-day voids follow it."""
    return now.astimezone(SHANGHAI).date()


def used_today(day_on: date | None, count: int, fen: int, today: date) -> tuple[int, int]:
    """The voucher's day counters as they stand today (they reset when the day changes)."""
    return (count, fen) if day_on == today else (0, 0)


def may_void(redemption_day: date, status: str, claimed: bool, now: datetime) -> AppError | None:
    """Why a redemption cannot be voided now (the refusal), or None if it can.

    A void is allowed on the day of the redemption (Asia/Shanghai) and before it is claimed
    for settlement; voiding twice is not an error (the caller answers with the first void).
    """
    if status == "voided":
        return None
    if claimed:
        return RedemptionClaimed()
    if local_day(now) != redemption_day:
        return VoidWindowClosed()
    return None
