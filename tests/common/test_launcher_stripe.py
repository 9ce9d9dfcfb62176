"""`yiyang up` points localstripe's webhooks at the voucher service, with the voucher
service's webhook secret, through the environment (never on the command line)."""

from __future__ import annotations

from services.common.settings import get_common_settings
from services.launcher import _children
from services.voucher.config import VoucherSettings


def test_localstripe_delivers_webhooks_to_the_voucher_service():
    children = {c.name: c for c in _children(
        {"provider": "postgresql://p", "ledger": "postgresql://l", "voucher": "postgresql://v"},
        "127.0.0.1")}
    stripe = children["localstripe"]
    secret = VoucherSettings().stripe_webhook_secret
    assert stripe.env == {
        "YIYANG_STRIPE_WEBHOOK_URL": f"{get_common_settings().voucher_url}/v1/stripe/webhook",
        "YIYANG_STRIPE_WEBHOOK_SECRET": secret}
    assert secret not in " ".join(stripe.argv)
