"""What a page shows once after a POST (a card's PIN, a terminal's secret), carried across
the post/redirect/get in a short-lived cookie: encrypted and bound to the session and the
record it is for, so another session, another record, a forged or a stale cookie reads as
nothing. The page that shows it clears the cookie; opened again, it says it is gone."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from starlette.responses import Response

from web.deps import WebState
from web.sessions import Session


def _context(session: Session, purpose: str, key: str) -> bytes:
    return f"{purpose}:{session.id}:{key}".encode()


def seal(
    web: WebState, session: Session, purpose: str, key: str, data: dict[str, Any], ttl_s: int
) -> str:
    """The cookie's value: `data` encrypted for this session, purpose and record, with the
    time it stops being readable."""
    blob = json.dumps({**data, "until": int(time.time()) + ttl_s})
    sealed = web.identity.cipher.encrypt(blob, context=_context(session, purpose, key))
    return base64.urlsafe_b64encode(sealed).decode()


def unseal(
    web: WebState, session: Session, purpose: str, key: str, value: str | None
) -> dict[str, Any] | None:
    """The data from the cookie, or None (absent, expired, another session's or another
    record's, tampered with)."""
    if not value:
        return None
    try:
        blob = web.identity.cipher.decrypt(
            base64.urlsafe_b64decode(value.encode()), context=_context(session, purpose, key)
        )
        data = json.loads(blob)
    except (ValueError, binascii.Error, TypeError, InvalidTag):
        return None  # a forged, stale or another session's cookie fails authentication
    if not isinstance(data, dict) or int(data.get("until", 0)) < time.time():
        return None
    return data


def keep(response: Response, web: WebState, cookie: str, value: str, path: str, ttl_s: int) -> None:
    """Put the sealed value on the response, readable only by the page at `path`."""
    response.set_cookie(
        cookie,
        value,
        max_age=ttl_s,
        httponly=True,
        secure=web.settings.secure_cookies,
        samesite="strict",
        path=path,
    )


def drop(response: Response, web: WebState, cookie: str, path: str) -> None:
    """Clear it once the page at `path` has shown it."""
    response.delete_cookie(
        cookie, path=path, secure=web.settings.secure_cookies, httponly=True, samesite="strict"
    )
