"""Refusals of the provider service, one class each: its error catalogue.

Each class carries its stable code, its HTTP status and its meaning; docs/errors.md and the
OpenAPI description are generated from them. Codes a trigger raises ('CODE: message', see
migrations/sql/) are classes here too. The codes every service answers (VALIDATION_ERROR,
ROLE_NOT_ALLOWED, OUT_OF_SCOPE, UNAUTHENTICATED, ...) are in services.common.errors.
"""

from __future__ import annotations

from services.common.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound


class InvalidUscc(InvalidInput):
    code = "INVALID_USCC"
    message = "The unified social credit code is not valid."


class UnknownRegion(InvalidInput):
    code = "UNKNOWN_REGION"
    message = "The region code is not a known administrative division."


class RegionOutsideProvince(InvalidInput):
    code = "REGION_OUTSIDE_PROVINCE"
    message = "The region is not in this deployment's province."


class UsccAlreadyRegistered(Conflict):
    code = "USCC_ALREADY_REGISTERED"
    message = "A provider with this unified social credit code is already registered."


class ProviderExists(Conflict):
    code = "PROVIDER_EXISTS"
    message = "This provider account has already applied."


class ProviderNotFound(NotFound):
    code = "PROVIDER_NOT_FOUND"
    message = "No such provider."


class IllegalTransition(Conflict):
    code = "ILLEGAL_TRANSITION"
    message = "The provider's status does not allow this change."


class ProviderRevoked(Conflict):
    code = "PROVIDER_REVOKED"
    message = "The provider is revoked; nothing about it can change."


class ApplicationRefused(Conflict):
    code = "APPLICATION_REFUSED"
    message = "The application was refused; nothing about it can change."


class DocumentTypeNotAllowed(AppError):
    status_code = 415
    code = "DOCUMENT_TYPE_NOT_ALLOWED"
    message = (
        "A licence document must be a PDF, JPEG or PNG file, judged by its content (not its name)."
    )


class DocumentTooLarge(AppError):
    status_code = 413
    code = "DOCUMENT_TOO_LARGE"
    message = "The licence document is larger than the limit (YIYANG_PROVIDER_DOCUMENT_MAX_BYTES)."


class DocumentLimitReached(Conflict):
    code = "DOCUMENT_LIMIT_REACHED"
    message = (
        "The provider already has the most documents allowed (YIYANG_PROVIDER_DOCUMENT_MAX_COUNT)."
    )


class DocumentNotFound(NotFound):
    code = "DOCUMENT_NOT_FOUND"
    message = "No such document for this provider."


class TerminalNotFound(NotFound):
    code = "TERMINAL_NOT_FOUND"
    message = "No such terminal for this provider."


class TerminalAlreadyRevoked(Conflict):
    code = "TERMINAL_ALREADY_REVOKED"
    message = "The terminal is already revoked."


class TerminalSecretGone(Conflict):
    code = "TERMINAL_SECRET_GONE"
    message = (
        "This idempotency key issued a terminal whose secret can no longer be shown again; "
        "revoke it and issue another if the secret was lost."
    )


class BankChangeNotFound(NotFound):
    code = "BANK_CHANGE_NOT_FOUND"
    message = "No such bank account change for this provider."


class BankChangeNotPending(Conflict):
    code = "BANK_CHANGE_NOT_PENDING"
    message = "This bank account change was already decided."


class PriceChangeNotFound(NotFound):
    code = "PRICE_CHANGE_NOT_FOUND"
    message = "No such price list change for this provider."


class PriceChangeNotPending(Conflict):
    code = "PRICE_CHANGE_NOT_PENDING"
    message = "This price list change was already decided (or a newer one superseded it)."


class BankChangeImmutable(Conflict):
    code = "BANK_CHANGE_IMMUTABLE"
    message = "A bank account change keeps its account and is never deleted (a trigger refuses)."


class BankAccountChangeUnapproved(Conflict):
    code = "BANK_ACCOUNT_CHANGE_UNAPPROVED"
    message = (
        "The settlement account changes only by an approved bank account change (a trigger "
        "refuses anything else)."
    )


class MakerCheckerViolation(Forbidden):
    code = "MAKER_CHECKER_VIOLATION"
    message = "The officer deciding a bank account change cannot be the one who asked for it."


class InvalidQuery(InvalidInput):
    code = "INVALID_QUERY"
    message = "A search parameter (radius_m, limit, cursor, region_code, since) is out of range."


class FieldRequired(InvalidInput):
    code = "FIELD_REQUIRED"
    message = (
        "Nearby search needs both lat and lon (and without them, a caller who may list the "
        "register)."
    )


class NothingToChange(InvalidInput):
    code = "NOTHING_TO_CHANGE"
    message = "A profile update needs at least one field."


__all__ = [
    name
    for name, value in dict(globals()).items()
    if isinstance(value, type) and issubclass(value, AppError)
]
