"""Typed dependencies and shared declarations of the provider routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from services.common.auth import Role
from services.provider.config import ProviderSettings
from services.provider.service.access import INSIDER_ROLES

ProviderID = Annotated[uuid.UUID, Path(description="The provider's id.")]
TerminalID = Annotated[uuid.UUID, Path(description="The terminal's id.")]
ChangeID = Annotated[uuid.UUID, Path(description="The bank account change's id.")]
PriceChangeID = Annotated[uuid.UUID, Path(description="The price list change's id.")]


async def get_settings(request: Request) -> ProviderSettings:
    settings: ProviderSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ProviderSettings, Depends(get_settings)]

# Every role: calls open to anyone signed in.
ANYONE = tuple(Role)
# Reads of a provider's private parts; in scope or PROVIDER_NOT_FOUND (service/access.py).
INSIDERS = INSIDER_ROLES

# The refusals every route may answer (documented in OpenAPI; codes in docs/errors.md).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED, BEARER_TOKEN_EXPIRED, BEARER_TOKEN_INVALID"},
    403: {"description": "ROLE_NOT_ALLOWED, OUT_OF_SCOPE"},
    422: {"description": "VALIDATION_ERROR and the codes listed in services/provider/errors.py"},
}
