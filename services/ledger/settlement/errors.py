"""Refusals of settlement, one class each: its part of the ledger's error catalogue
(docs/errors.md is generated from it). Codes are stable; docs/settlement.md explains them.
What the settlement tables' triggers raise is catalogued with the ledger's (services/ledger/
errors.py), and so is VOUCHER_SERVICE_UNAVAILABLE, which the ledger answers too."""

from __future__ import annotations

from services.common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)


class ClaimNotFound(NotFound):
    code = "CLAIM_NOT_FOUND"
    message = "No such claim."


class NothingToClaim(InvalidInput):
    code = "NOTHING_TO_CLAIM"
    message = "There is nothing claimable for this provider and period."


class ClaimLinesRefused(InvalidInput):
    """Some requested redemptions cannot be claimed; `details.lines` names each and why
    (NOT_POSTED, VOIDED, ALREADY_CLAIMED, OTHER_PERIOD, RECOVERED, DISPUTED)."""

    code = "CLAIM_LINES_REFUSED"
    message = "Some redemptions cannot be claimed."


class ClaimStatusConflict(Conflict):
    code = "CLAIM_STATUS_CONFLICT"
    message = "The claim is not in a state that allows this."


class MakerChecker(Forbidden):
    """Also refused: importing the bank confirmation of a payment batch one made."""

    code = "MAKER_CHECKER_VIOLATION"
    message = "The person who prepared, submitted or edited a claim may not approve it."


class ClaimInProgress(Conflict):
    code = "CLAIM_IN_PROGRESS"
    message = "Another claim of this provider and period is being prepared; retry."


class ProviderUnavailable(ServiceUnavailable):
    code = "PROVIDER_SERVICE_UNAVAILABLE"
    message = "The provider service did not answer; retry with the same idempotency key."


class BatchNotFound(NotFound):
    code = "BATCH_NOT_FOUND"
    message = "No such payment batch."


class NothingToPay(InvalidInput):
    code = "NOTHING_TO_PAY"
    message = "There is no approved, unpaid claim in your scope to put in a batch."


class ClaimsNotPayable(Conflict):
    """Some asked-for claims cannot go in a batch; `details.claims` names each and why."""

    code = "CLAIMS_NOT_PAYABLE"
    message = "Some claims cannot be put in a payment batch."


class BankAccountMissing(InvalidInput):
    code = "BANK_ACCOUNT_MISSING"
    message = "A provider has no settlement bank account on record."


class ConfirmationInvalid(InvalidInput):
    """The bank's confirmation file does not match the batch; `details.rows` says where."""

    code = "CONFIRMATION_INVALID"
    message = "The confirmation file does not match the batch."


class FileTooLarge(InvalidInput):
    status_code = 413  # as the voucher service's import answers an oversized file
    code = "FILE_TOO_LARGE"
    message = "The bank confirmation file is too large (at most 5 MiB)."


class StripeUnavailable(ServiceUnavailable):
    code = "STRIPE_UNAVAILABLE"
    message = "Stripe could not be read; retry the reconciliation later."
