"""Settings of the web app (env prefix `YIYANG_WEB_`), beside the shared `CommonSettings`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import dev_keys
from services.common.settings import get_common_settings, refuse_dev_secrets

# Public (it is in the repository): signs session cookies on a developer's machine only.
DEV_SESSION_SECRET = "yiyang-web-development-session-secret-do-not-use"
LOCALSTRIPE_JS = "http://127.0.0.1:8420/js.stripe.com/v3/"


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_WEB_", extra="ignore")

    # The web's own database (accounts, sessions, sign-in throttle, audit log). Unset: the
    # embedded PostgreSQL is started and `yiyang_web` created in it, like each service's.
    database_url: str | None = None
    pool_size: int = 10
    # How many worker processes `yiyang serve web` runs (the systemd unit passes it on).
    workers: int = 2
    # Keys the session cookie's hash (the cookie holds a random value; only its hash is kept).
    session_secret: str = DEV_SESSION_SECRET
    # None: secure cookies everywhere but development and test (plain http on 127.0.0.1).
    cookie_secure: bool | None = None
    # A session ends this long after sign-in whatever happens (absolute timeout) ...
    session_ttl_s: int = 8 * 3600
    # ... or after this long without a request (idle timeout).
    session_idle_s: int = 30 * 60
    # A session's last-seen time is written at most this often (not on every page view).
    session_touch_s: int = 60
    # Officers, finance, auditors and administrators sign in with a second factor (TOTP).
    # Only development and test may turn it off.
    totp_required: bool = True
    # Encrypts the TOTP secrets and terminal secrets at rest (AES-256-GCM) and keys the hash
    # of recovery codes: 32-byte keys, hex, like each service's personal-data keys.
    pii_encryption_key: str = dev_keys.DEV_PII_ENCRYPTION_KEY
    pii_hash_key: str = dev_keys.DEV_PII_HASH_KEY
    # Seconds before a QR code's expiry at which the page fetches a fresh one.
    qr_refresh_margin_s: int = 10
    # An officer's import is sent to the voucher service in parts of this many rows, the
    # job's progress recorded after each (web/service/imports.py).
    import_chunk_rows: int = Field(default=200, ge=1, le=20_000)
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
        if env not in ("development", "test") and not self.totp_required:
            raise ValueError(
                f"two-factor sign-in may not be turned off in {env}: unset YIYANG_WEB_TOTP_REQUIRED"
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


@lru_cache
def get_settings() -> WebSettings:
    return WebSettings()
