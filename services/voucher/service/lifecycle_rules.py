"""The lifecycle rules (pure: no I/O): which status changes are allowed, what each one does to
the person and their vouchers. docs/lifecycle.md draws the same thing as a state diagram.

A person's *stored* status is one of active, suspended, moved (left the province), exited,
deceased. A hospital stay does not replace it: it is a window (`paused_from`..`paused_until`,
inclusive) during which an active person's vouchers are paused, so the *current* state is
`hospitalised` while today lies inside the window and `active` again the day after, without
anyone having to record the discharge. A move to a region of the province keeps the status
and changes the region.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from services.voucher.errors import (
    EffectiveDateInFuture,
    FieldRequired,
    InvalidValue,
    StatusTransitionNotAllowed,
)

# current state -> the changes that may be recorded from it
ALLOWED: dict[str, frozenset[str]] = {
    "active": frozenset({"suspended", "hospitalised", "moved", "deceased", "exited"}),
    "hospitalised": frozenset(
        {"active", "hospitalised", "suspended", "moved", "deceased", "exited"}
    ),
    "suspended": frozenset({"active", "moved", "deceased", "exited"}),
    "moved": frozenset({"active", "deceased", "exited"}),
    "exited": frozenset({"active", "deceased"}),
    "deceased": frozenset(),
}


def current_state(
    status: str, paused_from: date | None, paused_until: date | None, on: date
) -> str:
    """The state a person is in on day `on`: `hospitalised` when an active person's stay
    covers that day, else the stored status."""
    if status == "active" and in_window(paused_from, paused_until, on):
        return "hospitalised"
    return status


def in_window(paused_from: date | None, paused_until: date | None, on: date) -> bool:
    return (
        paused_from is not None
        and paused_from <= on
        and (paused_until is None or on <= paused_until)
    )


@dataclass(frozen=True)
class Effect:
    """What a change does. `status`: the stored status after it; `region_code`: the new
    region (None: unchanged); `pause`: the hospital window to set (`set_pause`, possibly
    (None, None) to clear it); `end_vouchers`: 'revoked' or 'expired' to end the live
    vouchers (of `end_region` only, when set); `end_proxies`: withdraw the proxies."""

    status: str
    region_code: str | None = None
    set_pause: bool = False
    pause: tuple[date | None, date | None] = (None, None)
    end_vouchers: str | None = None
    end_region: str | None = None
    end_proxies: bool = False
    unfreeze: bool = False


def plan(
    *,
    stored_status: str,
    region_code: str,
    paused_from: date | None,
    paused_until: date | None,
    status: str,
    effective_on: date,
    until: date | None,
    to_region_code: str | None,
    today: date,
) -> Effect:
    """Check the change and say what it does (raises the refusal otherwise).

    - effective_on may be in the past; in the future only for a hospital stay (planned
      admission), else EFFECTIVE_DATE_IN_FUTURE;
    - `until` only for a hospital stay and not before its start; `to_region_code` only for a
      move, and not the person's region (INVALID_VALUE);
    - the change must be allowed from the current state (STATUS_TRANSITION_NOT_ALLOWED, with
      `from` and `to`); a deceased person allows none.
    """
    state = current_state(stored_status, paused_from, paused_until, today)
    # A discharge dated inside a stay that is already over by today (a late file) still ends
    # the stay on that day.
    discharge = status == "active" and (
        state == "hospitalised"
        or (stored_status == "active" and in_window(paused_from, paused_until, effective_on))
    )
    if status not in ALLOWED[state] and not discharge:
        raise StatusTransitionNotAllowed(field="status", details={"from": state, "to": status})
    if effective_on > today and status != "hospitalised":
        raise EffectiveDateInFuture(field="effective_on")
    if until is not None and status != "hospitalised":
        raise InvalidValue("Only a hospital stay has an end date.", field="until")
    if until is not None and until < effective_on:
        raise InvalidValue("The stay cannot end before it starts.", field="until")
    if to_region_code is not None and status != "moved":
        raise InvalidValue("Only a move names a region.", field="to_region_code")
    if status == "hospitalised":
        return Effect(status=stored_status, set_pause=True, pause=(effective_on, until))
    if status == "active":
        if discharge:
            # Discharged on effective_on: the stay ends the day before.
            end = effective_on - timedelta(days=1)
            keep = paused_from is not None and end >= paused_from
            return Effect(
                status="active", set_pause=True, pause=(paused_from, end) if keep else (None, None)
            )
        return Effect(status="active", unfreeze=True)
    if status == "moved":
        if to_region_code is None:
            # Left the province: the vouchers end like a lapse, the person stays on file.
            return Effect(status="moved", end_vouchers="expired")
        if to_region_code == region_code:
            raise InvalidValue("The person already lives in that region.", field="to_region_code")
        return Effect(
            status=stored_status,
            region_code=to_region_code,
            end_vouchers="expired",
            end_region=region_code,
        )
    if status == "deceased":
        return Effect(
            status="deceased",
            end_vouchers="revoked",
            end_proxies=True,
            set_pause=True,
            pause=(None, None),
        )
    if status == "exited":
        return Effect(status="exited", end_vouchers="revoked")
    if status == "suspended":
        return Effect(status="suspended")
    raise FieldRequired(field="status")  # pragma: no cover - the schema names every status


class StayEvent(Protocol):
    """A change of the timeline as `stays` reads it."""

    @property
    def status(self) -> str: ...
    @property
    def effective_on(self) -> date: ...
    @property
    def until(self) -> date | None: ...


def stays(changes: Iterable[StayEvent]) -> list[tuple[date, date | None]]:
    """The hospital stays a person's timeline records (`changes` in the order recorded), each
    (first day, last day or None while open), days inclusive, as `plan` set the window:

    - `hospitalised` starts a stay (effective_on..until); one that overlaps the stay before
      it corrects that stay (the window is replaced), one that does not is another stay;
    - `active` dated before the end of the last stay, or while it is open (a discharge),
      ends it the day before, dropping it when that is before its start;
    - `deceased` likewise ends it on the date of death.
    """
    out: list[tuple[date, date | None]] = []
    for c in changes:
        if c.status == "hospitalised":
            if out and _overlap(out[-1], (c.effective_on, c.until)):
                out.pop()
            out.append((c.effective_on, c.until))
        elif out and c.status in ("active", "deceased"):
            start, until = out[-1]
            end = c.effective_on - timedelta(days=1) if c.status == "active" else c.effective_on
            if until is None or c.effective_on <= until:
                out.pop()
                if end >= start:
                    out.append((start, end))
    return out


def _overlap(a: tuple[date, date | None], b: tuple[date, date | None]) -> bool:
    return (a[1] is None or b[0] <= a[1]) and (b[1] is None or a[0] <= b[1])
