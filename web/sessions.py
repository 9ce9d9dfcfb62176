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
        self._purge()
        sid = secrets.token_urlsafe(24)
        session = Session(
            id=sid, csrf=secrets.token_urlsafe(24), expires_at=time.time() + self._ttl, **fields
        )
        with self._lock:
            self._sessions[sid] = session
        return session

    def _purge(self) -> None:
        now = time.time()
        with self._lock:
            for sid in [k for k, v in self._sessions.items() if v.expires_at < now]:
                del self._sessions[sid]

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


class LoginThrottle:
    """Refuses sign-in for a username after too many wrong passwords in a window, so a
    password cannot be guessed by trying many. In memory, per process."""

    def __init__(self, max_failures: int = 5, window_s: int = 15 * 60) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, username: str) -> bool:
        with self._lock:
            return len(self._recent(username.strip().lower(), time.time())) >= self.max_failures

    def failed(self, username: str) -> None:
        key = username.strip().lower()
        with self._lock:
            self._recent(key, time.time())
            self._failures.setdefault(key, []).append(time.time())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.strip().lower(), None)
