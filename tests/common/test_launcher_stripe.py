"""`yiyang up` points localstripe's webhooks at the voucher service, with the voucher
service's webhook secret, through the environment (never on the command line)."""

from __future__ import annotations

from services.common.settings import get_common_settings
from services.launcher import _children
from services.voucher.config import VoucherSettings


def test_localstripe_delivers_webhooks_to_the_voucher_service():
    children = {
        c.name: c
        for c in _children(
            {
                "provider": "postgresql://p",
                "ledger": "postgresql://l",
                "voucher": "postgresql://v",
                "web": "postgresql://w",
            },
            "127.0.0.1",
        )
    }
    stripe = children["localstripe"]
    secret = VoucherSettings().stripe_webhook_secret
    assert stripe.env == {
        "YIYANG_STRIPE_WEBHOOK_URL": f"{get_common_settings().voucher_url}/v1/stripe/webhook",
        "YIYANG_STRIPE_WEBHOOK_SECRET": secret,
    }
    assert secret not in " ".join(stripe.argv)


def test_localstripe_the_ledger_and_the_pay_page_follow_the_voucher_stripe_address(monkeypatch):
    """One setting moves the local Stripe: the fake listens where the voucher service calls
    it, the ledger reconciles against it and the family's pay page loads its Stripe.js from
    it; an operator's own setting for the web wins."""
    from services.voucher.config import get_settings

    monkeypatch.setenv("YIYANG_VOUCHER_STRIPE_API_BASE", "http://127.0.0.1:9555")
    get_settings.cache_clear()
    try:
        dbs = {
            "provider": "postgresql://p",
            "ledger": "postgresql://l",
            "voucher": "postgresql://v",
            "web": "postgresql://w",
        }
        children = {c.name: c for c in _children(dbs, "127.0.0.1")}
        argv = children["localstripe"].argv
        assert argv[argv.index("--port") + 1] == "9555"
        assert children["ledger"].env["YIYANG_LEDGER_STRIPE_API_BASE"] == "http://127.0.0.1:9555"
        assert children["ledger"].env["YIYANG_LEDGER_STRIPE_SECRET_KEY"] == (
            get_settings().stripe_secret_key
        )
        assert children["web"].env["YIYANG_WEB_STRIPE_JS_URL"] == (
            "http://127.0.0.1:9555/js.stripe.com/v3/"
        )

        monkeypatch.setenv("YIYANG_WEB_STRIPE_JS_URL", "https://js.example/v3/")
        children = {c.name: c for c in _children(dbs, "127.0.0.1")}
        assert "YIYANG_WEB_STRIPE_JS_URL" not in children["web"].env  # the operator's stays
    finally:
        get_settings.cache_clear()
