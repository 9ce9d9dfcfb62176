"""Refusals of the ledger service: its error catalogue (docs/errors.md is generated from it).

Three kinds, all with stable codes:
- refusals of a request, raised by the service (BUDGET_EXCEEDED, ENTRY_NOT_FOUND, ...);
- why one event of a batch was not applied (`EventRejected` and its subclasses): recorded
  with the event and answered in its result, the same on every retry;
- refusals by the database itself, raised as 'CODE: message' by the functions in
  migrations/sql/ (the journal's and settlement's tables alike) and passed on by
  services.common.errors.db_error_to_app_error with the status of their SQLSTATE (409).
Settlement's own refusals are in services/ledger/settlement/errors.py.
"""

from __future__ import annotations

from services.common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OutOfScope,
    ServiceUnavailable,
)

# --- refusals of a request -------------------------------------------------------------------


class BudgetExceeded(Conflict):
    """Also raised by the posting trigger when a budget account would go below zero."""

    code = "BUDGET_EXCEEDED"
    message = "The budget cannot cover this."


class InsufficientBalance(Conflict):
    """Also raised by the posting trigger for any no-overdraft account."""

    code = "INSUFFICIENT_BALANCE"
    message = "A no-overdraft account (vouchers outstanding, cash benefits) would be overdrawn."


class UnknownRegion(InvalidInput):
    """An appropriation or commitment names a region that is not a known division of this
    deployment's province (`services.common.regions.is_known_within`); nothing is posted."""

    code = "UNKNOWN_REGION"
    message = "The region code is not a known administrative division of this province."


class UnknownProgram(InvalidInput):
    """An appropriation or commitment names a programme the voucher service (which owns
    programmes) does not know; nothing is posted."""

    code = "UNKNOWN_PROGRAM"
    message = "No programme has this code."


class SourceNotInProgram(InvalidInput):
    """An appropriation names a funding source from which no version of the programme is
    funded (its `funding_shares`): money no voucher of it would ever draw; nothing is
    posted."""

    code = "SOURCE_NOT_IN_PROGRAM"
    message = "The programme is not funded from this source."


class VoucherUnavailable(ServiceUnavailable):
    """The voucher service did not answer: asked which programmes exist (appropriations,
    commitments) or by settlement (claims, reconciliation, payout accounts)."""

    code = "VOUCHER_SERVICE_UNAVAILABLE"
    message = "The voucher service did not answer; retry with the same idempotency key."


class NoBudget(Conflict):
    code = "NO_BUDGET"
    message = "No budget is appropriated for this program at or above this region."


class EntryNotFound(NotFound):
    code = "ENTRY_NOT_FOUND"
    message = "No such journal entry."


class AccountNotFound(NotFound):
    code = "ACCOUNT_NOT_FOUND"
    message = "No such account."


class AlreadyReversed(Conflict):
    code = "ALREADY_REVERSED"
    message = "This entry has already been reversed."


class EntryNotReversible(InvalidInput):
    """The entry was made from another service's event or process (a redemption, a void, an
    expiry, a co-payment, a commitment, a settlement payment): it changes only through the
    service that owns it (a void, a recovery), never by a reversal typed into the ledger, so
    the ledger cannot come to disagree with that service. Nothing is posted."""

    code = "ENTRY_NOT_REVERSIBLE"
    message = "This entry was made by another service; correct it through that service."


class ReversalByMaker(Forbidden):
    """Maker-checker for manual corrections: the finance officer who made a manual entry
    (an appropriation, a reversal) may not reverse it; another officer does."""

    code = "REVERSAL_BY_MAKER"
    message = "The officer who made an entry may not reverse it; another officer must."


class PeriodNotEnded(InvalidInput):
    code = "PERIOD_NOT_ENDED"
    message = "Only a period that has ended can be closed."


class PeriodAlreadyClosed(Conflict):
    code = "PERIOD_ALREADY_CLOSED"
    message = "This period is already closed."


class FilterNotSupported(InvalidInput):
    code = "FILTER_NOT_SUPPORTED"
    message = "This combination of filters cannot be answered."


class RangeTooLarge(InvalidInput):
    code = "RANGE_TOO_LARGE"
    message = "Too many postings in this window; narrow from/to."


class ScopeRequired(OutOfScope):
    message = "This needs a wider scope."


# --- why an event was not applied ----------------------------------------------------------


class EventRejected(Conflict):
    """Why one event of a batch was not applied (recorded; the same answer on every retry)."""

    code = "EVENT_REJECTED"
    message = "The event was not applied."


class EventIdReused(EventRejected):
    code = "EVENT_ID_REUSED"
    message = "This event id was delivered before with another body."


class UnknownEventType(EventRejected):
    code = "UNKNOWN_EVENT_TYPE"
    message = "The ledger does not know this event type."


class InvalidPayload(EventRejected):
    code = "INVALID_PAYLOAD"
    message = "The event's payload does not have the shape its type needs."


class AmountMismatch(EventRejected):
    """Also raised by settlement's payment line trigger (a payment entry that does not pay
    exactly the line's amount)."""

    code = "AMOUNT_MISMATCH"
    message = "The amounts do not agree (gross = subsidy + co-payment, a void = its redemption)."


class DuplicateRedemption(EventRejected):
    code = "DUPLICATE_REDEMPTION"
    message = "This redemption was already posted."


class UnknownRedemption(EventRejected):
    code = "UNKNOWN_REDEMPTION"
    message = "No posted redemption has this id."


class AlreadyVoided(EventRejected):
    code = "ALREADY_VOIDED"
    message = "This redemption was already voided."


class CashCopayNotPosted(EventRejected):
    code = "CASH_COPAY_NOT_POSTED"
    message = (
        "A cash co-payment is the provider's money, not the department's: the ledger posts "
        "nothing for it."
    )


# --- refused by the database (migrations/sql/) ----------------------------------------------


class UnknownBook(Conflict):
    code = "UNKNOWN_BOOK"
    message = "An entry names a book that has no head row (a book opens on its first entry)."


class ChainSequenceGap(Conflict):
    code = "CHAIN_SEQUENCE_GAP"
    message = "An entry's seq does not follow the book's last one."


class ChainFork(Conflict):
    code = "CHAIN_FORK"
    message = "An entry's prev_hash is not the hash of the entry before it."


class PostedAtInvalid(Conflict):
    code = "POSTED_AT_INVALID"
    message = "An entry is dated before the previous entry or in the future."


class PeriodMismatch(Conflict):
    code = "PERIOD_MISMATCH"
    message = "An entry's period is not the month of its date."


class PeriodClosed(Conflict):
    code = "PERIOD_CLOSED"
    message = "The period is closed: it takes no more entries."


class EntryTooFewPostings(Conflict):
    code = "ENTRY_TOO_FEW_POSTINGS"
    message = "An entry has fewer than two postings."


class EntryUnbalanced(Conflict):
    code = "ENTRY_UNBALANCED"
    message = "An entry's postings do not sum to zero in each currency."


class EntrySealed(Conflict):
    code = "ENTRY_SEALED"
    message = (
        "Postings may only be added to an entry by the transaction that wrote it, with its "
        "seq, date, period, provider, beneficiary and voucher; an entry's txid is the "
        "database's own."
    )


class UnknownAccount(Conflict):
    code = "UNKNOWN_ACCOUNT"
    message = "A posting names an account that does not exist."


class UnknownEntry(Conflict):
    code = "UNKNOWN_ENTRY"
    message = "An event is recorded as applied with an entry that does not exist."


class CurrencyMismatch(Conflict):
    code = "CURRENCY_MISMATCH"
    message = "A posting's currency is not its account's."


class JournalImmutable(Conflict):
    code = "JOURNAL_IMMUTABLE"
    message = "Journal and history rows are never changed or deleted; correct by a new entry."


class DerivedRow(Conflict):
    code = "DERIVED_ROW"
    message = (
        "Balances, the chain head, claim lines and payment lines follow from the journal and "
        "the workflow; they are never set directly."
    )


class ClaimLineInvalid(Conflict):
    code = "CLAIM_LINE_INVALID"
    message = "A claim line is not a posted redemption (or online co-payment) of its provider."


class RedemptionVoided(Conflict):
    code = "REDEMPTION_VOIDED"
    message = "A voided redemption cannot be claimed."


class ClaimTotalMismatch(Conflict):
    code = "CLAIM_TOTAL_MISMATCH"
    message = "A claim's totals differ from the sum of its active lines."


class ClaimTransitionNotAllowed(Conflict):
    code = "CLAIM_TRANSITION_NOT_ALLOWED"
    message = "A claim's status may only move along the workflow."
