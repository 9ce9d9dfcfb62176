"""Outside development and test, no service may start with a secret from the repository."""

from __future__ import annotations

import secrets

import pytest

from services.common.keys import ed25519_pair
from services.common.settings import get_common_settings
from services.ledger.config import LedgerSettings
from services.provider.config import ProviderSettings
from services.voucher.config import VoucherSettings
from web.config import WebSettings


@pytest.fixture
def production(monkeypatch):
    private, public = ed25519_pair()
    monkeypatch.setenv("YIYANG_ENV", "production")
    monkeypatch.setenv("YIYANG_AUTH_PRIVATE_KEY", private)
    monkeypatch.setenv("YIYANG_AUTH_PUBLIC_KEY", public)
    get_common_settings.cache_clear()
    yield
    get_common_settings.cache_clear()


# Each service's settings class and the secrets an operator must set for it.
SECRETS = {
    VoucherSettings: (
        "qr_private_key",
        "qr_public_key",
        "pii_encryption_key",
        "pii_hash_key",
        "stripe_secret_key",
        "stripe_webhook_secret",
    ),
    ProviderSettings: ("pii_encryption_key", "pii_hash_key"),
    LedgerSettings: ("pii_encryption_key", "pii_hash_key"),
    WebSettings: (
        "session_secret",
        "stripe_publishable_key",
        "pii_encryption_key",
        "pii_hash_key",
    ),
}


@pytest.mark.parametrize("cls", list(SECRETS), ids=lambda c: c.__name__)
def test_each_development_secret_is_refused_in_production(production, cls):
    fresh = {name: secrets.token_hex(32) for name in SECRETS[cls]}
    # Every secret but one set: the one left at its development value is named and refused.
    for left in SECRETS[cls]:
        others = {k: v for k, v in fresh.items() if k != left}
        with pytest.raises(ValueError, match="development secrets") as refused:
            cls(**others)
        assert left in str(refused.value).lower()
    assert cls(**fresh)


def test_the_stripe_webhook_secret_of_the_repository_cannot_sign_in_production(production):
    """The default webhook secret is public: a deployment that kept it would accept forged
    'payment succeeded' webhooks, so production refuses to start with it."""
    fresh = {name: secrets.token_hex(32) for name in SECRETS[VoucherSettings]}
    fresh.pop("stripe_webhook_secret")
    with pytest.raises(ValueError, match="stripe_webhook_secret"):
        VoucherSettings(**fresh)


def test_the_ledger_starts_in_production_without_stripe(production):
    fresh = {name: secrets.token_hex(32) for name in SECRETS[LedgerSettings]}
    assert LedgerSettings(**fresh).stripe_secret_key is None
