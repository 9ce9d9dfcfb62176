"""Refusals of the provider service, each with a stable code.

| code | status | when |
| --- | --- | --- |
| INVALID_USCC | 422 | the unified social credit code is malformed or its check character is wrong |
| UNKNOWN_REGION | 422 | region_code is not a known GB/T 2260 code |
| REGION_OUTSIDE_PROVINCE | 422 | region_code is not under the deployment's province |
| USCC_ALREADY_REGISTERED | 409 | another provider holds this code |
| PROVIDER_EXISTS | 409 | the provider admin's account already has its provider |
| PROVIDER_NOT_FOUND | 404 | no such provider |
| ILLEGAL_TRANSITION | 409 | the status workflow does not allow this change (also raised by the database) |
| PROVIDER_REVOKED | 409 | a revoked provider cannot be changed |
| TERMINAL_NOT_FOUND | 404 | no such terminal for this provider |
| TERMINAL_ALREADY_REVOKED | 409 | the terminal was revoked before |
| INVALID_QUERY | 422 | a search parameter (radius_m, limit, cursor, region_code, since) is out of range |
| FIELD_REQUIRED | 422 | nearby search without lat or lon (or a caller who may not list the register) |
| NOTHING_TO_CHANGE | 422 | a profile update with no field |
| BANK_CHANGE_NOT_FOUND | 404 | no such bank account change for this provider |
| BANK_CHANGE_NOT_PENDING | 409 | the bank account change was decided (or superseded) before (also raised by the database) |
| MAKER_CHECKER_VIOLATION | 403 | the officer deciding a bank account change is the one who asked for it |
| BANK_ACCOUNT_CHANGE_UNAPPROVED | 409 | (database) the settlement account changed other than by an approved change |
| VALIDATION_ERROR, ROLE_NOT_ALLOWED, OUT_OF_SCOPE, UNAUTHENTICATED | | see services.common |
"""

from __future__ import annotations

from services.common.errors import AppError, Conflict, InvalidInput, NotFound


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


class TerminalNotFound(NotFound):
    code = "TERMINAL_NOT_FOUND"
    message = "No such terminal for this provider."


class TerminalAlreadyRevoked(Conflict):
    code = "TERMINAL_ALREADY_REVOKED"
    message = "The terminal is already revoked."


class BankChangeNotFound(NotFound):
    code = "BANK_CHANGE_NOT_FOUND"
    message = "No such bank account change for this provider."


class BankChangeNotPending(Conflict):
    code = "BANK_CHANGE_NOT_PENDING"
    message = "This bank account change was already decided."


class InvalidQuery(InvalidInput):
    code = "INVALID_QUERY"
    message = "A search parameter is out of range."


__all__ = [
    name
    for name, value in dict(globals()).items()
    if isinstance(value, type) and issubclass(value, AppError)
]
