"""What the sign-in and account services need from the app: settings, keys, the clock."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.crypto import PiiCipher
from web.config import WebSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Identity:
    settings: WebSettings
    auth_private_key: str  # signs the people's tokens for the services
    clock: Callable[[], datetime] = utc_now  # tests move time forward with their own
    cipher: PiiCipher = field(init=False)

    def __post_init__(self) -> None:
        self.cipher = PiiCipher(self.settings.pii_encryption_key, self.settings.pii_hash_key)
        self._cookie_key = hashlib.sha256(
            ("yiyang-web-session:" + self.settings.session_secret).encode()
        ).digest()

    def now(self) -> datetime:
        return self.clock()

    def token_hash(self, cookie: str) -> bytes:
        """What the database keeps of a session cookie: its HMAC under the session secret."""
        return hmac.new(self._cookie_key, cookie.encode(), hashlib.sha256).digest()
