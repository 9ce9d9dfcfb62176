"""Dependencies shared by the settlement routes: who may call, the clients of the other
services (an injected one on `app.state` in tests, else one made once from the settings),
and the cipher of bank account numbers."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from services.common.auth import Principal, Role, require
from services.common.crypto import PiiCipher
from services.common.errors import OutOfScope
from services.common.settings import get_common_settings
from services.common.shards import province_hooks
from services.ledger.api.deps import voucher_http
from services.ledger.settlement.clients import ProviderClient, StripeReader, VoucherClient
from services.ledger.settlement.service.secrets import bank_cipher

PROVIDER_ADMIN = require(Role.provider_admin)
FINANCE = require(Role.finance)
READERS = require(Role.provider_admin, Role.finance, Role.auditor)
FINANCE_AUDITOR = require(Role.finance, Role.auditor)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED / BEARER_TOKEN_EXPIRED / BEARER_TOKEN_INVALID"},
    403: {"description": "ROLE_NOT_ALLOWED / OUT_OF_SCOPE / MAKER_CHECKER_VIOLATION"},
    404: {"description": "CLAIM_NOT_FOUND"},
    409: {"description": "IDEMPOTENCY_KEY_REUSED / CLAIM_STATUS_CONFLICT"},
    422: {"description": "VALIDATION_ERROR / NOTHING_TO_CLAIM / CLAIM_LINES_REFUSED"},
    503: {"description": "VOUCHER_SERVICE_UNAVAILABLE (retry with the same key)"},
}


def require_region_scope(p: Principal) -> None:
    """Finance and auditors answer for regions: without a region scope there is nothing
    they may see."""
    if not p.region:
        raise OutOfScope("A region scope is required.", field="region_code")


# `async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool.
async def voucher_client(request: Request) -> VoucherClient:
    """The voucher client: an injected `app.state.voucher_api` / `voucher_client` (tests) or
    one to the configured voucher URL, made once."""
    client: VoucherClient | None = getattr(request.app.state, "voucher_api", None)
    if client is None:
        client = request.app.state.voucher_api = VoucherClient(
            voucher_http(request), get_common_settings().auth_private_key
        )
    return client


async def provider_client(request: Request) -> ProviderClient:
    """The provider client (payees' bank accounts), like `voucher_client`."""
    client: ProviderClient | None = getattr(request.app.state, "provider_api", None)
    if client is None:
        settings = get_common_settings()
        http = getattr(request.app.state, "provider_client", None) or httpx.AsyncClient(
            base_url=settings.provider_url, event_hooks=province_hooks()
        )
        client = request.app.state.provider_api = ProviderClient(http, settings.auth_private_key)
    return client


async def stripe_reader(request: Request) -> StripeReader | None:
    """Stripe's records for reconciliation: an injected `app.state.stripe_reader` (tests) or
    one to the configured Stripe API base; None when Stripe is not configured."""
    reader: StripeReader | None = getattr(request.app.state, "stripe_reader", None)
    if reader is None:
        settings = getattr(request.app.state, "settings", None)
        base = getattr(settings, "stripe_api_base", None)
        key = getattr(settings, "stripe_secret_key", None)
        if not base or not key:
            return None
        reader = request.app.state.stripe_reader = StripeReader(
            httpx.AsyncClient(base_url=base), key
        )
    return reader


async def bank_number_cipher(request: Request) -> PiiCipher:
    """The cipher of bank account numbers at rest, from the ledger's settings."""
    return bank_cipher(request.app.state.settings)


VoucherDep = Annotated[VoucherClient, Depends(voucher_client)]
ProviderDep = Annotated[ProviderClient, Depends(provider_client)]
StripeDep = Annotated[StripeReader | None, Depends(stripe_reader)]
BankCipherDep = Annotated[PiiCipher, Depends(bank_number_cipher)]
