"""Programmes as people read them: our own short words for the programmes we know, else
the name their officers published (a city's own programme is data, no table here knows it)."""

from __future__ import annotations

from typing import Any

from web.clients import ApiError
from web.deps import voucher_client
from web.labels import LABELS
from web.sessions import Session


async def program_names(web: Any, session: Session) -> dict[str, str]:
    """Programme code -> its published name; empty if the list cannot be read (the label
    then stands in)."""
    client = voucher_client(web, session)
    try:
        return {p["code"]: p["name"] for p in await client.programs()}
    except ApiError:
        return {}
    finally:
        await client.aclose()


def short_program_name(code: str, names: dict[str, str]) -> str:
    """A programme's short name for a chart's line (its published name, cut to ten)."""
    return LABELS["program_short"].get(code) or names.get(code, "其他项目")[:10]
