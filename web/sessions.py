"""What a page sees of the signed-in session (kept in the web's database, see
web/service/sessions.py; the cookie, `yiyang_session`, holds only a random value whose keyed
hash finds the row).

`token` is the person's bearer token for the services, minted for this request from the
account (never stored, never sent to the browser). `flash` (messages shown once) and
`acting_for` (which person a proxy is acting for) may be changed by a page: they are
written back before the response is sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

COOKIE_NAME = "yiyang_session"


@dataclass
class Session:
    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    role: str
    display_name: str
    csrf: str
    token: str = ""
    region: str | None = None
    provider_id: str | None = None
    beneficiary_ids: list[str] = field(default_factory=list)
    acting_for: str | None = None
    flash: list[tuple[str, str]] = field(default_factory=list)
    # The password was right but the second factor is still to come: no page opens.
    mfa_pending: bool = False
    # Signed in, but owes this first: a new password, or enrolment in two-factor sign-in.
    must_change_password: bool = False
    needs_totp_enrolment: bool = False

    def pop_flash(self) -> list[tuple[str, str]]:
        out, self.flash = self.flash, []
        return out

    def state(self) -> tuple[Any, ...]:
        """What a page may change and is written back when it did."""
        return (tuple(self.flash), self.acting_for)
