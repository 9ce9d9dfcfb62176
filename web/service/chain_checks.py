"""An auditor's check of the ledger's hash chains, run in the background book by book
(web/service/background.py) so the page shows how far it has come and the auditor can leave
and come back: each book (`GET /v1/chain/verify?book=`) in turn, then the root chain over the
books' heads and the stored balances (`?book=root`). Together they check what one whole
verification does (docs/ledger.md, "Books and the root chain"); progress is counted in the
books' entries. A book that fails does not stop the check: every book gets its verdict."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from services.common.db import Database
from web.clients import LedgerClient
from web.service import background
from web.service.context import Identity

ROOT = "root"
KIND = "chain_check"
TITLE = "账本防篡改校验"

# the person's token -> a ledger client that acts for them
ClientFor = Callable[[str], LedgerClient]


def steps(books: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(entries, book) for each book, then the root (no entries of its own)."""
    return [(int(b["entries"]), str(b["book"])) for b in books] + [(0, ROOT)]


def verdict(merged: dict[str, Any]) -> bool | None:
    """Whether the whole check passed: None until the root has been checked."""
    if ROOT not in merged:
        return None
    return bool(merged[ROOT]["ok"]) and all(b["ok"] for b in merged.get("books", ()))


async def run(
    db: Database,
    ident: Identity,
    *,
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    books: list[dict[str, Any]],
    client_for: ClientFor,
) -> None:
    async def step(token: str, book: str, merged: dict[str, Any]) -> None:
        client = client_for(token)
        try:
            answer = await client.verify_chain(book)
        finally:
            await client.aclose()
        shown = {
            k: answer.get(k)
            for k in ("ok", "entries_checked", "head_hash", "first_bad_entry", "reason")
        }
        if book == ROOT:
            merged[ROOT] = {**shown, "anchors_checked": answer.get("anchors_checked")}
            merged["ok"] = verdict(merged)
        else:
            merged.setdefault("books", []).append({"book": book, **shown})

    await background.run(
        db,
        ident,
        job_id=job_id,
        user_id=user_id,
        steps=steps(books),
        step=step,
        failure="系统出错，校验没有完成。请重新开始校验。",
    )
