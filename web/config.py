"""Settings of the web app (env prefix `YIYANG_WEB_`), beside the shared `CommonSettings`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import dev_keys
from services.common.settings import get_common_settings, refuse_dev_secrets

# Public (it is in the repository): signs session cookies on a developer's machine only.
DEV_SESSION_SECRET = "yiyang-web-development-session-secret-do-not-use"
LOCALSTRIPE_JS = "http://127.0.0.1:8420/js.stripe.com/v3/"


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_WEB_", extra="ignore")

    session_secret: str = DEV_SESSION_SECRET
    # None: secure cookies everywhere but development and test (plain http on 127.0.0.1).
    cookie_secure: bool | None = None
    session_ttl_s: int = 8 * 3600
    # The account store written by the demo loader; default <data_dir>/web/accounts.json.
    accounts_file: Path | None = None
    # Seconds before a QR code's expiry at which the page fetches a fresh one.
    qr_refresh_margin_s: int = 10
    # The family's co-payment page loads Stripe.js from here and uses this publishable key.
    # Unset: localstripe's fake (`yiyang localstripe`) in development and test, Stripe's own
    # https://js.stripe.com/v3/ elsewhere (where the key must be set: pk_live_...).
    stripe_js_url: str | None = None
    stripe_publishable_key: str = dev_keys.DEV_STRIPE_PUBLISHABLE_KEY

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> WebSettings:
        env = get_common_settings().env
        if env not in ("development", "test") and self.session_secret == DEV_SESSION_SECRET:
            raise ValueError(
                f"development secrets may not be used in {env}: set YIYANG_WEB_SESSION_SECRET"
            )
        if env not in ("development", "test") and not self.stripe_js.startswith("https://"):
            raise ValueError(
                f"Stripe.js must be loaded over https in {env}: "
                "set YIYANG_WEB_STRIPE_JS_URL (https://js.stripe.com/v3/)"
            )
        refuse_dev_secrets(self)
        return self

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return get_common_settings().env not in ("development", "test")

    @property
    def stripe_js(self) -> str:
        if self.stripe_js_url:
            return self.stripe_js_url
        if get_common_settings().env in ("development", "test"):
            return LOCALSTRIPE_JS
        return "https://js.stripe.com/v3/"

    @property
    def accounts_path(self) -> Path:
        return self.accounts_file or (get_common_settings().data_dir / "web" / "accounts.json")


@lru_cache
def get_settings() -> WebSettings:
    return WebSettings()
