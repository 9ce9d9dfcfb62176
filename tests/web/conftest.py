"""Web test fixtures: one whole in-process system per test module (the real ledger, provider
and voucher services on fresh databases, the web app in front; see tests/web/system.py).
Tests in a module share it, so they assert on changes they make (before/after), never on
numbers another test could have moved."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from tests.web.system import PASSWORD, System, login, system

__all__ = ["PASSWORD", "System", "csrf_of", "login"]


@pytest.fixture(scope="module")
async def web(
    pg_admin_url: str,
    db_templates: dict[str, str],
    tokens,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[System]:
    """The whole system, seeded through the services' APIs, shared by one test module."""
    async with system(pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("web")) as s:
        yield s


@pytest.fixture(scope="module")
def web_shell(web: System) -> System:
    """Sign-in, session and access tests use the same system."""
    return web


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def sent_back(r) -> bool:
    """A bill refused at the cashier's step 1 comes back to that step's own page
    (post/redirect/get), which says why: a page, not the answer to a form."""
    return (
        r.status_code == 200
        and r.url.path == "/provider/redeem"
        and bool(r.history)
        and r.history[0].status_code == 303
    )


def at_confirm(r) -> bool:
    """The bill was taken: the answer is the confirm step's own page."""
    return r.status_code == 200 and r.url.path == "/provider/redeem/confirm"
