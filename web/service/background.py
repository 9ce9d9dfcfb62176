"""Long work run in the background by the web, step by step, so that its page shows how far it
has come and the person can leave and come back: an officer's file imports
(web/service/imports.py) and an auditor's check of the ledger's chains book by book
(web/service/chain_checks.py). The job is a row (`import_job`, web/models.py): `done_rows` of
`total_rows` (rows of a file, or entries of the ledger's books), `result` the answers so
far, a final status. Each step runs with a fresh token of the person who started it (so an
account disabled meanwhile stops the job), and its progress is committed before the next.
A running job that stops moving for `STALE_AFTER` (the web restarted) is shown as cut short."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.common.db import Database
from web.clients import ApiError
from web.repository import import_jobs as repo
from web.service import sessions
from web.service.context import Identity

log = logging.getLogger("yiyang.web.jobs")

STALE_AFTER = timedelta(minutes=3)

# (the person's token, what the step works on, the answers so far to add to)
Step = Callable[[str, Any, dict[str, Any]], Awaitable[None]]


async def run(
    db: Database,
    ident: Identity,
    *,
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    steps: Sequence[tuple[int, Any]],
    step: Step,
    failure: str,
) -> None:
    """Run `step` on each of `steps` ((rows it accounts for, what it works on)) one after
    the other, recording the rows done and the answers after each. A refusal ends the job
    failed with its reason in Chinese, anything else with `failure`. Never raises: nobody
    waits for it."""
    merged: dict[str, Any] = {}
    done = 0
    try:
        for index, (rows, item) in enumerate(steps):
            async with db.unit_of_work() as session:
                token = await sessions.token_for(session, ident, user_id)
            if token is None:
                raise ApiError(403, "ROLE_NOT_ALLOWED", "account disabled")
            await step(token, item, merged)
            done += rows
            last = index == len(steps) - 1
            async with db.unit_of_work() as session:
                await repo.advance(
                    session,
                    job_id,
                    done_rows=done,
                    result=merged,
                    status="done" if last else "running",
                )
    except ApiError as exc:
        await _fail(db, job_id, done, merged, exc.friendly)
    except asyncio.CancelledError:  # the web is stopping: the job shows as cut short
        raise
    except Exception:
        log.exception("background job failed")
        await _fail(db, job_id, done, merged, failure)


async def _fail(
    db: Database, job_id: uuid.UUID, done: int, merged: dict[str, Any], why: str
) -> None:
    try:
        async with db.unit_of_work() as session:
            await repo.advance(
                session, job_id, done_rows=done, result=merged, status="failed", error=why
            )
    except Exception:
        log.exception("background job: the failure could not be recorded")


def is_stale(status: str, updated_at: datetime, now: datetime) -> bool:
    """Running, but not moved for a while: the process running it stopped."""
    return status == "running" and now - updated_at > STALE_AFTER
