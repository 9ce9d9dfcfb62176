"""The hot-path module's raw SQL (services/voucher/repository/redemption.py) against a migrated
database: every statement prepares (as the service's own role, so its grants are checked too),
and no other module of the voucher service carries SQL strings."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.voucher.repository import redemption as hot

ROOT = Path(__file__).resolve().parents[3]
VOUCHER = ROOT / "services" / "voucher"


@pytest.mark.parametrize("name", sorted(hot.STATEMENTS))
async def test_every_raw_statement_prepares_against_a_migrated_database(make_db, name):
    db = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.app_url))
    try:
        async with conn.transaction():
            statement = await conn.prepare(hot.STATEMENTS[name])
            assert statement.get_statusmsg() is None  # prepared, not run
    finally:
        await conn.close()


async def test_the_statement_of_redemptions_run_together_prepares_on_its_function(make_db):
    """REDEEM_TOGETHER's temporary function is made from REDEEM's text when the module loads;
    the service's own role may create it, and its call prepares against it."""
    db = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.app_url))
    try:
        await conn.execute(hot.REDEEM_TOGETHER.setup)
        statement = await conn.prepare(hot.REDEEM_TOGETHER.call)
        assert [a.name for a in statement.get_attributes()][-1] == "_call"
    finally:
        await conn.close()


def test_the_module_lists_every_raw_statement_it_has():
    constants = {
        n
        for n, v in vars(hot).items()
        if n.isupper() and not n.startswith("_") and isinstance(v, str) and "SELECT" in v
    }
    assert constants <= set(hot.STATEMENTS), constants - set(hot.STATEMENTS)
    assert set(hot.STATEMENTS.values()) <= {v for v in vars(hot).values() if isinstance(v, str)}


# `text(` (SQLAlchemy's SQL strings), an asyncpg query call, or any execute of a string.
_SQL_CALL = re.compile(
    r"\btext\(|\.(fetch|fetchrow|fetchval|executemany|prepare)\(|\.execute\(\s*f?[\"']"
)


def test_no_sql_strings_outside_the_hot_path_module():
    """The rest of the service builds its statements from the SQLModel tables (models.py may
    use text() for server defaults; migrations are SQL by nature)."""
    allowed = {VOUCHER / "repository" / "redemption.py", VOUCHER / "models.py"}
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted(VOUCHER.rglob("*.py"))
        if path not in allowed
        and "migrations" not in path.parts
        and _SQL_CALL.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
