"""Outside development and test, no service may start with a secret from the repository, nor
send money or card data to Stripe at a plain-http, loopback or private address."""

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
    LedgerSettings: ("pii_encryption_key", "pii_hash_key", "checkpoint_private_key"),
    WebSettings: (
        "session_secret",
        "stripe_publishable_key",
        "pii_encryption_key",
        "pii_hash_key",
    ),
}


# What an operator sets besides the secrets (the voucher's Stripe address has a local default).
REQUIRED = {VoucherSettings: {"stripe_api_base": "https://api.stripe.com"}}


@pytest.mark.parametrize("cls", list(SECRETS), ids=lambda c: c.__name__)
def test_each_development_secret_is_refused_in_production(production, cls):
    fresh = {name: secrets.token_hex(32) for name in SECRETS[cls]} | REQUIRED.get(cls, {})
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
    fresh |= REQUIRED[VoucherSettings]
    fresh.pop("stripe_webhook_secret")
    with pytest.raises(ValueError, match="stripe_webhook_secret"):
        VoucherSettings(**fresh)


def test_the_ledger_starts_in_production_without_stripe(production):
    fresh = {name: secrets.token_hex(32) for name in SECRETS[LedgerSettings]}
    assert LedgerSettings(**fresh).stripe_secret_key is None


NOT_PUBLIC_HTTPS = [
    "http://api.stripe.com",  # not https
    "http://127.0.0.1:8420",  # the development default: localstripe
    "https://127.0.0.1:8420",
    "https://localhost",
    "https://LOCALHOST./v1",
    "https://stripe.localhost",
    "https://[::1]:8420",
    "https://0.0.0.0",
    "https://127.1",  # forms a resolver reads as 127.0.0.1
    "https://2130706433",
    "https://0x7f000001",
    "https://[::ffff:127.0.0.1]",
    "https://api.stripe.com@127.0.0.1",  # the host is what follows the @
    "https://10.0.0.5",
    "https://172.16.3.4",
    "https://192.168.1.20:443",
    "https://100.64.0.1",  # carrier-grade NAT
    "https://169.254.169.254",  # link-local: cloud metadata
    "https://[fd00::1]",
    "https:///v1",
    "api.stripe.com",
]


@pytest.mark.parametrize("base", NOT_PUBLIC_HTTPS)
@pytest.mark.parametrize("cls", [VoucherSettings, LedgerSettings], ids=lambda c: c.__name__)
def test_stripe_must_be_https_to_a_public_host_in_production(production, cls, base):
    fresh = {name: secrets.token_hex(32) for name in SECRETS[cls]} | REQUIRED.get(cls, {})
    with pytest.raises(ValueError, match="stripe_api_base") as refused:
        cls(**fresh | {"stripe_api_base": base})
    assert refused.match("STRIPE_API_BASE")  # tells the operator which variable to set
    for good in (
        "https://api.stripe.com",
        "https://api.stripe.com/",
        "https://stripe.example.cn:8443",
    ):
        assert cls(**fresh | {"stripe_api_base": good}).stripe_api_base == good


def test_the_voucher_refuses_its_local_stripe_default_in_production(production):
    fresh = {name: secrets.token_hex(32) for name in SECRETS[VoucherSettings]}
    with pytest.raises(ValueError, match="YIYANG_VOUCHER_STRIPE_API_BASE"):
        VoucherSettings(**fresh)


@pytest.mark.parametrize("cls", [VoucherSettings, LedgerSettings], ids=lambda c: c.__name__)
def test_development_and_test_use_localstripe(cls):
    assert cls(stripe_api_base="http://127.0.0.1:8420").stripe_api_base == "http://127.0.0.1:8420"
