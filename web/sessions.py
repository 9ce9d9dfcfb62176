"""Server-side sessions: the cookie holds only a signed random id; the token stays here.

A session keeps the person's JWT (never sent to the browser), the CSRF token every POST form
must echo, and which person a proxy is currently acting for. Kept in memory: a restart signs
everybody out, which is acceptable for one web process; several processes would share a store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

COOKIE_NAME = "yiyang_session"


@dataclass
class Session:
    id: str
    username: str
    role: str
    display_name: str
    token: str
    csrf: str
    expires_at: float
    region: str | None = None
    provider_id: str | None = None
    beneficiary_ids: list[str] = field(default_factory=list)
    acting_for: str | None = None
    flash: list[tuple[str, str]] = field(default_factory=list)

    def pop_flash(self) -> list[tuple[str, str]]:
        out, self.flash = self.flash, []
        return out


class SessionStore:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._key = hashlib.sha256(("yiyang-web-session:" + secret).encode()).digest()
        self._ttl = ttl_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _sign(self, sid: str) -> str:
        return hmac.new(self._key, sid.encode(), hashlib.sha256).hexdigest()[:32]

    def cookie_value(self, session: Session) -> str:
        return f"{session.id}.{self._sign(session.id)}"

    def create(self, **fields: Any) -> Session:
        sid = secrets.token_urlsafe(24)
        session = Session(id=sid, csrf=secrets.token_urlsafe(24),
                          expires_at=time.time() + self._ttl, **fields)
        with self._lock:
            self._sessions[sid] = session
        return session

    def load(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        sid, _, sig = cookie.rpartition(".")
        if not hmac.compare_digest(sig, self._sign(sid)):
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session and session.expires_at < time.time():
                del self._sessions[sid]
                return None
        return session

    def delete(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)
