"""Refusals of the ledger service. Codes are stable; docs/ledger.md lists them.

Codes raised by the database itself (triggers in migration ledger_0002) reach clients through
services.common.errors: BUDGET_EXCEEDED, INSUFFICIENT_BALANCE, PERIOD_CLOSED, ENTRY_UNBALANCED,
ENTRY_TOO_FEW_POSTINGS, ENTRY_SEALED, CHAIN_SEQUENCE_GAP, CHAIN_FORK, JOURNAL_IMMUTABLE.
"""

from __future__ import annotations

from services.common.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound


class BudgetExceeded(Conflict):
    code = "BUDGET_EXCEEDED"
    message = "The budget cannot cover this."


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


class PeriodNotEnded(InvalidInput):
    code = "PERIOD_NOT_ENDED"
    message = "Only a period that has ended can be closed."


class PeriodAlreadyClosed(Conflict):
    code = "PERIOD_ALREADY_CLOSED"
    message = "This period is already closed."


class FilterNotSupported(InvalidInput):
    code = "FILTER_NOT_SUPPORTED"
    message = "This combination of filters cannot be answered."


class ScopeRequired(Forbidden):
    code = "OUT_OF_SCOPE"
    message = "This needs a wider scope."


class EventRejected(AppError):
    """Why one event of a batch was not applied (recorded; the same answer on every retry)."""

    status_code = 409
    code = "EVENT_REJECTED"
