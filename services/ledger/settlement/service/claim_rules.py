"""What a claim may carry and who may act on it (pure; docs/settlement.md, "Claims").

- A claim line is a redemption posted to the ledger for the provider, in the period, not
  reversed (voided), and in no other live claim (`line_problem`).
- The claim also carries the provider's online co-payment entries (net of refunds) as long
  as its total stays above zero; otherwise none, and net refunds wait for a claim with
  enough to set them against (`copays_to_take`).
- And the recoveries the provider owes back (wrongly paid redemptions taken back after
  they were claimed), oldest first, whole, while its total stays above zero
  (`recoveries_to_take`).
- Maker-checker: whoever prepared, submitted, resubmitted or edited a claim does not
  approve or reject it (`preparers`).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.auth import Principal
from services.ledger.settlement.errors import ClaimNotFound
from services.ledger.settlement.models import Claim, ClaimAction
from services.ledger.settlement.repository.claims import ClaimableRedemption, RedemptionFact
from services.ledger.settlement.repository.copay import CopayEntry
from services.ledger.settlement.repository.recoveries import RecoveryEntry

PREPARING_ACTIONS = ("prepare", "submit", "resubmit", "edit")
PROVIDER_ROLES = ("provider_admin", "provider_staff")


def line_problem(fact: RedemptionFact, provider_id: str, period: str) -> str | None:
    """Why a redemption cannot be claimed by this provider for this period (None: it can)."""
    if fact.entry_id is None or fact.provider_id != provider_id:
        return "NOT_POSTED"  # another provider's redemption is not confirmed to exist
    if fact.reversed:
        return "VOIDED"
    if fact.claim_id is not None:
        return "ALREADY_CLAIMED"
    if fact.period != period:
        return "OTHER_PERIOD"
    return None


def copays_to_take(
    lines: Sequence[ClaimableRedemption | RedemptionFact], copays: Sequence[CopayEntry]
) -> list[CopayEntry]:
    """All the unclaimed online co-payment entries, if the claim's total stays above zero
    with them; otherwise none (net refunds wait for a later claim)."""
    total = sum(r.amount_fen for r in lines) + sum(c.amount_fen for c in copays)
    return list(copays) if copays and total > 0 else []


def recoveries_to_take(total_fen: int, owed: Sequence[RecoveryEntry]) -> list[RecoveryEntry]:
    """Recoveries the provider owes back, oldest first, each whole, while the claim's total
    stays above zero after it (a larger one waits for a larger claim)."""
    taken: list[RecoveryEntry] = []
    for r in owed:
        if total_fen - r.amount_fen > 0:
            taken.append(r)
            total_fen -= r.amount_fen
    return taken


def preparers(claim: Claim, history: Sequence[ClaimAction]) -> set[str]:
    """Everyone who prepared, submitted, resubmitted or edited the claim."""
    return {h.actor for h in history if h.action in PREPARING_ACTIONS} | {claim.submitted_by}


def ensure_may_see(who: Principal, claim: Claim) -> None:
    """The provider's own admin, or finance/auditor covering every region of the claim."""
    if who.role.value in PROVIDER_ROLES:
        if who.provider_id != claim.provider_id:
            raise ClaimNotFound(field="claim_id")  # another provider's claim is not confirmed
        return
    for region in claim.region_codes:
        who.ensure_region(region)


def may_list(who: Principal, claim: Claim) -> bool:
    """A claim in a list: the provider's admin sees its own (the route scoped the query);
    finance and auditors those whose every region they cover."""
    return who.role.value == "provider_admin" or all(
        who.covers_region(r) for r in claim.region_codes
    )
