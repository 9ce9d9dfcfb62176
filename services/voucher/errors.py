"""Refusals of the voucher service, each with a stable code (clients branch on `code`).

Messages never quote the input: it may hold a national ID or a phone number.
"""

from __future__ import annotations

from services.common.errors import AppError, Conflict, InvalidInput, NotFound, ServiceUnavailable


class InvalidNationalId(InvalidInput):
    code = "INVALID_NATIONAL_ID"
    message = "The national ID is not a valid 18-character GB 11643 number."


class InvalidPhone(InvalidInput):
    code = "INVALID_PHONE"
    message = "The phone number is not a valid mainland mobile or landline number."


class InvalidRegion(InvalidInput):
    code = "INVALID_REGION"
    message = "The region code is not a known administrative division of this province."


class ScoreOutOfRange(InvalidInput):
    code = "SCORE_OUT_OF_RANGE"
    message = "An assessment score is outside the range of its dimension."


class InvalidAssessmentDate(InvalidInput):
    code = "INVALID_ASSESSMENT_DATE"
    message = "The assessment date may not be in the future."


class InvalidPeriod(InvalidInput):
    code = "INVALID_PERIOD"
    message = "The period must be YYYY-MM."


class InvalidProgramConfig(InvalidInput):
    code = "INVALID_PROGRAM_CONFIG"
    message = "The program configuration is not valid."


class BeneficiaryExists(Conflict):
    code = "BENEFICIARY_EXISTS"
    message = "A beneficiary with this national ID is already enrolled."


class BeneficiaryNotFound(NotFound):
    code = "BENEFICIARY_NOT_FOUND"
    message = "No such beneficiary."


class ProgramNotFound(NotFound):
    code = "PROGRAM_NOT_FOUND"
    message = "No such program."


class ProxyNotFound(NotFound):
    code = "PROXY_NOT_FOUND"
    message = "No such proxy authorisation."


class IssuanceRunNotFound(NotFound):
    code = "ISSUANCE_RUN_NOT_FOUND"
    message = "No such issuance run."


class StatusTransitionNotAllowed(Conflict):
    code = "STATUS_TRANSITION_NOT_ALLOWED"
    message = "The beneficiary cannot move from its current status to that one."


class ProgramVersionConflict(Conflict):
    code = "PROGRAM_VERSION_CONFLICT"
    message = "The program was changed since the version you edited; reload and retry."


class UnsupportedFile(InvalidInput):
    code = "UNSUPPORTED_FILE"
    message = "Upload a CSV (UTF-8) or XLSX file with the documented columns."


class LedgerUnavailable(ServiceUnavailable):
    code = "LEDGER_UNAVAILABLE"
    message = "The ledger did not answer; the run is saved and resumes when retried."


class LedgerRefused(AppError):
    status_code = 502
    code = "LEDGER_REFUSED"
    message = "The ledger refused the budget commitment."


# --- codes, cards and redemptions (see docs/voucher-redemption.md for every code) -----------


class TokenInvalid(AppError):
    status_code = 422
    code = "TOKEN_INVALID"
    message = "The code is not a valid Yiyang code."


class TokenExpired(AppError):
    status_code = 422
    code = "TOKEN_EXPIRED"
    message = "The code has expired; show a fresh one."


class PinRequired(AppError):
    status_code = 422
    code = "PIN_REQUIRED"
    message = "This card needs its PIN."


class PinIncorrect(AppError):
    status_code = 422
    code = "PIN_INCORRECT"
    message = "The PIN is not correct."


class CardLocked(AppError):
    status_code = 423
    code = "CARD_LOCKED"
    message = "This card is locked after too many wrong PINs; ask the civil-affairs office."


class CardNotValid(AppError):
    status_code = 422
    code = "CARD_NOT_VALID"
    message = "This card has been replaced or is not known."


class RedemptionRefused(AppError):
    """A redemption refused by the rule or a check; `code` says which (REFUSALS in
    service/redemption.py lists them)."""

    status_code = 422
    code = "REDEMPTION_REFUSED"
