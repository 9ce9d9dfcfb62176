"""Refusals of the voucher service: its error catalogue (docs/errors.md is generated from it).

Each refusal is one class with a stable code (clients branch on `code`), its HTTP status and a
one-line meaning; the database's own refusals ('CODE: ...' raised by a trigger in
migrations/sql/) are classes here too. Messages never quote the input: it may hold a national
ID or a phone number.
"""

from __future__ import annotations

from services.common.errors import AppError, Conflict, InvalidInput, NotFound, ServiceUnavailable


class InvalidNationalId(InvalidInput):
    code = "INVALID_NATIONAL_ID"
    message = "The national ID is not a valid 18-character GB 11643 number."


class NationalIdAsNumber(InvalidInput):
    code = "NATIONAL_ID_AS_NUMBER"
    message = (
        "The national ID arrived as a number (a spreadsheet cell formatted as a number keeps "
        "15 digits); format the column as text and type the ID again."
    )


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


class BeneficiaryRecordClosed(Conflict):
    code = "BENEFICIARY_RECORD_CLOSED"
    message = "The person has died: their profile and assessments can no longer be changed."


class SpotDrawNotFound(NotFound):
    code = "SPOT_DRAW_NOT_FOUND"
    message = "No such spot reassessment draw in your region."


class ProgramNotFound(NotFound):
    code = "PROGRAM_NOT_FOUND"
    message = "No such program."


class ProxyNotFound(NotFound):
    code = "PROXY_NOT_FOUND"
    message = "No such proxy authorisation."


class ProxyExists(Conflict):
    code = "PROXY_EXISTS"
    message = "This account already holds a live authorisation for the person."


class IssuanceRunNotFound(NotFound):
    code = "ISSUANCE_RUN_NOT_FOUND"
    message = "No such issuance run."


class IssuanceRunInProgress(Conflict):
    code = "ISSUANCE_RUN_IN_PROGRESS"
    message = (
        "Another issuance of this program and period is still running; try again when it ends."
    )


class IssuanceLeaseLost(Conflict):
    code = "ISSUANCE_LEASE_LOST"
    message = (
        "The run lost its lease (it was paused longer than the lease) and stopped; another "
        "run took over. Nothing was committed twice."
    )


class StatusTransitionNotAllowed(Conflict):
    code = "STATUS_TRANSITION_NOT_ALLOWED"
    message = "The beneficiary cannot move from its current status to that one."


class EffectiveDateInFuture(InvalidInput):
    code = "EFFECTIVE_DATE_IN_FUTURE"
    message = "This status change cannot take effect on a future day (only a hospital stay can)."


class StatusImportRowInvalid(InvalidInput):
    """Used per row in a status import's answer (never raised for the whole file)."""

    code = "STATUS_IMPORT_ROW_INVALID"
    message = "The row of the status file names no known event or date."


class ProgramExists(Conflict):
    code = "PROGRAM_EXISTS"
    message = "A program with this code exists already; publish a new version with PUT."


class ProgramRegionMismatch(InvalidInput):
    code = "PROGRAM_REGION_MISMATCH"
    message = "The program's eligibility regions must lie within the region that creates it."


class ProgramVersionConflict(Conflict):
    code = "PROGRAM_VERSION_CONFLICT"
    message = "The program was changed since the version you edited; reload and retry."


class UnsupportedFile(InvalidInput):
    code = "UNSUPPORTED_FILE"
    message = "Upload a CSV (UTF-8) or XLSX file with the documented columns."


class MissingColumns(UnsupportedFile):
    code = "MISSING_COLUMNS"
    message = "The file's header lacks required columns (`details.missing` names them)."


class FileTooLarge(InvalidInput):
    status_code = 413
    code = "FILE_TOO_LARGE"
    message = "The file is too large (at most 20000 rows and 10485760 bytes)."


class FieldRequired(InvalidInput):
    code = "FIELD_REQUIRED"
    message = "A required field (an import row's column) is missing or empty."


class InvalidValue(InvalidInput):
    code = "INVALID_VALUE"
    message = "A field (an import row's column) holds a value its rule does not accept."


class IdempotencyKeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"
    message = "Another request with this idempotency key is in progress; retry."


class LedgerUnavailable(ServiceUnavailable):
    code = "LEDGER_UNAVAILABLE"
    message = "The ledger did not answer; the run is saved and resumes when retried."


class LedgerRefused(AppError):
    status_code = 502
    code = "LEDGER_REFUSED"
    message = "The ledger refused the budget commitment."


class BudgetExceeded(Conflict):
    code = "BUDGET_EXCEEDED"
    message = "The budget for this program and region cannot cover the commitment."


class NoBudget(BudgetExceeded):
    code = "NO_BUDGET"
    message = "Nothing is appropriated for this program at or above the region."


class ChunkImmutable(Conflict):
    """Raised by the trigger issuance_chunk_forward_only (migrations/sql)."""

    code = "CHUNK_IMMUTABLE"
    message = "An issuance chunk keeps its members and amounts."


class ChunkStatus(Conflict):
    """Raised by the trigger issuance_chunk_forward_only (migrations/sql)."""

    code = "CHUNK_STATUS"
    message = "An issuance chunk's status only moves forward (intent, committed, done)."


# --- codes and cards (service/codes.py) -----------------------------------------------------


class TokenInvalid(AppError):
    status_code = 422
    code = "TOKEN_INVALID"
    message = "The code is not a valid Yiyang code."


class TokenExpired(AppError):
    status_code = 422
    code = "TOKEN_EXPIRED"
    message = "The code has expired; show a fresh one."


class TokenUsed(Conflict):
    code = "TOKEN_USED"
    message = "This code was already used; show a fresh one."


class ShortCodeUnknown(AppError):
    status_code = 422
    code = "SHORT_CODE_UNKNOWN"
    message = (
        "No payment code has these digits (mistyped, or it has expired); ask for a fresh code."
    )


class ShortCodeLocked(AppError):
    status_code = 429
    code = "SHORT_CODE_LOCKED"
    message = (
        "Too many wrong numeric codes at this provider: numeric codes are refused for a while; "
        "scan the QR code instead."
    )


class PinRequired(AppError):
    status_code = 422
    code = "PIN_REQUIRED"
    message = "This card needs its PIN."


class PinIncorrect(AppError):
    status_code = 422
    code = "PIN_INCORRECT"
    message = "The PIN is not correct."


class PinFormat(InvalidInput):
    code = "PIN_FORMAT"
    message = "A PIN is six digits."


class CardLocked(AppError):
    status_code = 423
    code = "CARD_LOCKED"
    message = "This card is locked after too many wrong PINs; ask the civil-affairs office."


class CardNotValid(AppError):
    status_code = 422
    code = "CARD_NOT_VALID"
    message = "This card has been replaced or is not known."


class CardNotFound(NotFound):
    code = "CARD_NOT_FOUND"
    message = "The person has no such card."


class CardNotLocked(Conflict):
    code = "CARD_NOT_LOCKED"
    message = "Only a locked card can be unlocked (a replaced card never works again)."


# --- redemptions: the refusals of the rule (service/redemption.py) and its checks ---------


class RedemptionRefused(AppError):
    """Base of the refusals a redemption (or its preview) can meet after the code is read."""

    status_code = 422
    code = "REDEMPTION_REFUSED"
    message = "The redemption was refused; the code of the subclass says why."


class BeneficiaryNotActive(RedemptionRefused):
    """422 at a redemption; asking for a new code for a frozen person answers 409."""

    code = "BENEFICIARY_NOT_ACTIVE"
    message = "The person's vouchers are frozen (suspended, moved or deceased)."


class BeneficiaryPaused(RedemptionRefused):
    code = "BENEFICIARY_PAUSED"
    message = "The person is in hospital today: the vouchers are paused for the stay."


class BeneficiaryDeceased(RedemptionRefused):
    """Also refuses a new code. (A voucher inserted for the person anyway -- an issuance
    racing the death -- is born revoked and released: trigger voucher_guard_beneficiary.)"""

    code = "BENEFICIARY_DECEASED"
    message = "The person is deceased: nothing is redeemed or issued for them."


class NoUsableVoucher(RedemptionRefused):
    code = "NO_USABLE_VOUCHER"
    message = "No active voucher of this person can pay for this service here today."


class VoucherExhausted(RedemptionRefused):
    code = "VOUCHER_EXHAUSTED"
    message = "The voucher has no balance left."


class VisitsUsedUp(RedemptionRefused):
    code = "VISITS_USED_UP"
    message = "The service package's home visits for this period are used up."


class DailyLimitReached(RedemptionRefused):
    code = "DAILY_LIMIT_REACHED"
    message = "The voucher's limit for today has been reached."


class BillTooSmall(RedemptionRefused):
    code = "BILL_TOO_SMALL"
    message = "The bill is too small for this subsidy."


class InvalidAmount(RedemptionRefused):
    code = "INVALID_AMOUNT"
    message = "The bill must be a positive number of fen."


class ProviderNotApproved(RedemptionRefused):
    status_code = 403
    code = "PROVIDER_NOT_APPROVED"
    message = "This provider may not accept vouchers now."


class ServiceNotOffered(RedemptionRefused):
    code = "SERVICE_NOT_OFFERED"
    message = "This service is not on the provider's price list."


class OutOfProvince(RedemptionRefused):
    code = "OUT_OF_PROVINCE"
    message = (
        "The person's vouchers belong to another province than this provider's: a province's "
        "vouchers are redeemed in that province only (docs/shards.md)."
    )


class ProviderOutOfArea(RedemptionRefused):
    code = "PROVIDER_OUT_OF_AREA"
    message = "This voucher cannot be spent at a provider outside its area."


# --- the bill, priced from the price list (service/pricing.py) ---------------------------


class BillMismatch(RedemptionRefused):
    code = "BILL_MISMATCH"
    message = "The amount sent differs from the bill priced from the provider's price list."


class QuantityNotAllowed(RedemptionRefused):
    code = "QUANTITY_NOT_ALLOWED"
    message = "The quantity exceeds what the price list allows in one visit."


class AmountRequired(RedemptionRefused):
    code = "AMOUNT_REQUIRED"
    message = "A variable-price item needs its amount_fen."


class PriceAboveMaximum(RedemptionRefused):
    code = "PRICE_ABOVE_MAXIMUM"
    message = "The amount of a variable-price item exceeds its max_price_fen."


# --- voids and claims (service/void_claim.py; the trigger redemption_guard) ---------------


class RedemptionClaimed(Conflict):
    code = "REDEMPTION_CLAIMED"
    message = "The redemption is already claimed for settlement."


class VoidWindowClosed(Conflict):
    code = "VOID_WINDOW_CLOSED"
    message = "A redemption can be voided only on its own day."


class RedemptionVoided(Conflict):
    code = "REDEMPTION_VOIDED"
    message = "Voided redemptions cannot be claimed."


class RedemptionAlreadyClaimed(Conflict):
    code = "REDEMPTION_ALREADY_CLAIMED"
    message = "Some redemptions belong to another claim."


class RedemptionImmutable(Conflict):
    """Raised by the trigger redemption_guard (migrations/sql)."""

    code = "REDEMPTION_IMMUTABLE"
    message = "A redemption's amounts never change and it is never deleted."


class RedemptionParent(Conflict):
    """Raised by the trigger redemption_parent_kept (migrations/sql): the voucher or person a
    redemption names is kept, as the foreign keys dropped from the hot path kept them."""

    code = "REDEMPTION_PARENT"
    message = "A voucher or person that a redemption names is never deleted."


# --- receipts, confirmations and disputes (service/reviews.py) ---------------------------


class RedemptionNotFound(NotFound):
    code = "REDEMPTION_NOT_FOUND"
    message = "No such redemption."


class ReviewWindowClosed(Conflict):
    code = "REVIEW_WINDOW_CLOSED"
    message = "A redemption can be confirmed or disputed only within its review window."


class AlreadyReviewed(Conflict):
    code = "REDEMPTION_ALREADY_REVIEWED"
    message = "This redemption was already confirmed or disputed (details.state says which)."


class DisputeNotFound(NotFound):
    code = "DISPUTE_NOT_FOUND"
    message = "No such dispute."


class DisputeAlreadyDecided(Conflict):
    code = "DISPUTE_ALREADY_DECIDED"
    message = "This dispute (or its appeal) is already decided."


class DisputeNotDecided(Conflict):
    code = "DISPUTE_NOT_DECIDED"
    message = "A dispute can be appealed only after it is decided."


class AppealAlreadyMade(Conflict):
    code = "APPEAL_ALREADY_MADE"
    message = "A dispute can be appealed once."


class AppealWindowClosed(Conflict):
    code = "APPEAL_WINDOW_CLOSED"
    message = "The time to appeal this decision has passed."


# --- home visits (service/visits.py) -----------------------------------------------------


class VisitRequired(RedemptionRefused):
    code = "VISIT_REQUIRED"
    message = (
        "A home-visit item needs a completed visit of this person at this provider, long "
        "enough and not billed yet (details.reason, details.min_minutes)."
    )


class VisitNotFound(NotFound):
    code = "VISIT_NOT_FOUND"
    message = "No such visit."


class VisitAlreadyCheckedOut(Conflict):
    code = "VISIT_ALREADY_CHECKED_OUT"
    message = "This visit is already checked out."


class VisitOutOfRadius(AppError):
    status_code = 422
    code = "VISIT_OUT_OF_RADIUS"
    message = "The position is too far from the person's registered home (details.distance_m)."


class VisitCodeMismatch(AppError):
    status_code = 422
    code = "VISIT_CODE_MISMATCH"
    message = "The code scanned at check-out is not the visited person's."


# --- co-payments (service/copay.py, service/copay_refund.py) -------------------------------


class CopayNotFound(NotFound):
    code = "COPAYMENT_NOT_FOUND"
    message = "No such co-payment."


class NothingToPay(InvalidInput):
    code = "NO_COPAYMENT_DUE"
    message = "This redemption has no co-payment to pay."


class NotPayable(Conflict):
    code = "COPAYMENT_NOT_PAYABLE"
    message = "This co-payment is not waiting for an online payment (paid, cash or voided)."


class RefundTooLarge(Conflict):
    code = "REFUND_EXCEEDS_CAPTURED"
    message = "A refund cannot exceed what was captured and not yet refunded."


class StripeUnavailable(ServiceUnavailable):
    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    message = "Stripe did not answer; retry."


class StripeRefused(Conflict):
    """Stripe answered and said no (an invalid request, a declined card): asking again the
    same way will not help; a person has to look."""

    code = "PAYMENT_PROVIDER_REFUSED"
    message = "Stripe refused the request."


class InvalidSignature(AppError):
    status_code = 400
    code = "INVALID_SIGNATURE"
    message = "The webhook signature is not valid."


# --- anomaly rules, alerts and recoveries (docs/anomalies.md) ------------------------------


class AlertNotFound(NotFound):
    code = "ALERT_NOT_FOUND"
    message = "No such alert."


class AlertAlreadyDecided(Conflict):
    code = "ALERT_ALREADY_DECIDED"
    message = "The alert was already decided otherwise."


class UnknownAnomalyRule(NotFound):
    code = "UNKNOWN_ANOMALY_RULE"
    message = "No such anomaly rule."


class RuleVersionConflict(Conflict):
    code = "RULE_VERSION_CONFLICT"
    message = "The rule's settings for this region changed since the version you edited."


class RedemptionRecovered(Conflict):
    code = "REDEMPTION_RECOVERED"
    message = "The redemption's subsidy was recovered: it can be neither voided nor claimed."


class RedemptionDisputed(Conflict):
    code = "REDEMPTION_DISPUTED"
    message = (
        "The person disputes the redemption and no officer has answered yet: it is claimed "
        "once the dispute is answered (details.disputed)."
    )


class RedemptionNotRecoverable(Conflict):
    code = "REDEMPTION_NOT_RECOVERABLE"
    message = "A voided redemption paid nothing; there is nothing to recover."


class CreditEventPending(ServiceUnavailable):
    code = "CREDIT_EVENT_PENDING"
    message = (
        "The provider service did not record the credit event; the decision stands, send "
        "it again to retry."
    )
