"""An officer's decision on a change a provider's admin asked for (a bank account, a dearer
price list), from a page's form: checked here before it is sent, said back in a flash."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import RedirectResponse

from services.common.auth import Role
from web.clients import ApiError, ProviderClient
from web.deps import PageForbidden, provider_client
from web.sessions import Session

_ID = re.compile(r"^[\w-]{1,64}$")
Decide = Callable[[ProviderClient, bool, str | None], Awaitable[Any]]


async def send_decision(
    web: Any,
    session: Session,
    *,
    back: str,
    ids: tuple[str, str],
    action: str,
    reason: str,
    decide: Decide,
    done: tuple[str, str],
    unknown: str,
    refusals: dict[str, str],
) -> RedirectResponse:
    """Approve or reject (a reason required), back to the queue with what happened: `done`
    (approved, rejected), `unknown` for an address naming no change, `refusals` by the
    service's code (else its words)."""
    if session.role != Role.civil_affairs.value:
        raise PageForbidden()
    to_queue = RedirectResponse(back, status_code=303)
    reason = reason.strip()[:500]
    if action not in ("approve", "reject") or not all(_ID.match(i) for i in ids):
        session.flash.append(("err", unknown))
        return to_queue
    if action == "reject" and not reason:
        session.flash.append(("err", "驳回时请填写原因，机构管理员会看到。"))
        return to_queue
    client = provider_client(web, session)
    try:
        await decide(client, action == "approve", reason or None)
        session.flash.append(("ok", done[0] if action == "approve" else done[1]))
    except ApiError as exc:
        session.flash.append(("err", refusals.get(exc.code, exc.friendly)))
    finally:
        await client.aclose()
    return to_queue
