"""`yiyang web`: the first administrator of a deployment, and the demo's accounts with their
two-factor secrets (`yiyang web totp USER` prints the current code)."""

from __future__ import annotations

import asyncio
import time

from tests.web.system import DISTRICT, PASSWORD
from web import manage
from web.service import totp


async def test_the_demo_accounts_are_added_once_and_staff_pre_enrolled(make_db):
    db = await make_db("web")
    rows = [
        manage.NewAccount("caiwu", "finance", "财务", "450100"),
        manage.NewAccount("laoren", "beneficiary", "老人", DISTRICT, beneficiary_ids=("b-1",)),
    ]
    first = await manage.add_accounts(rows, PASSWORD, database_url=db.app_url, enrol_totp=True)
    assert [(a.username, a.created) for a in first] == [("caiwu", True), ("laoren", True)]
    secret = first[0].totp_secret
    assert secret and first[1].totp_secret is None  # only the roles that sign in with a code
    again = await manage.add_accounts(rows, PASSWORD, database_url=db.app_url, enrol_totp=True)
    assert [a.created for a in again] == [False, False] and again[0].totp_secret == secret
    now, nxt, left = await manage.current_code("caiwu", db.app_url)
    assert now in (totp.code_at(secret, time.time()), totp.code_at(secret, time.time() - 1))
    assert 1 <= left <= 30 and nxt.isdigit()


async def test_yiyang_web_add_admin_then_totp_from_the_command_line(make_db, capsys):
    db = await make_db("web")
    argv = ["add-admin", "--username", "Guanli", "--name", "管理员", "--region", "450000"]
    assert await asyncio.to_thread(manage.main, [*argv, "--database-url", db.app_url]) == 0
    temporary = capsys.readouterr().out.splitlines()[-1]
    assert len(temporary) == 12
    again = await asyncio.to_thread(manage.main, [*argv, "--database-url", db.app_url])
    assert again == 1  # exists already: nothing changed
    url = ["--database-url", db.app_url]
    assert await asyncio.to_thread(manage.main, ["totp", "guanli", *url]) == 1  # not enrolled
    rows = [manage.NewAccount("shenji", "auditor", "审计", "450000")]
    added = await manage.add_accounts(rows, PASSWORD, database_url=db.app_url, enrol_totp=True)
    capsys.readouterr()
    assert await asyncio.to_thread(manage.main, ["totp", "shenji", *url]) == 0
    code = capsys.readouterr().out.splitlines()[-1]
    step = totp.step_at(time.time())
    secret = added[0].totp_secret
    assert code in {totp.hotp(totp._key(secret), s) for s in (step - 1, step)}
    must_change = await _fetch(
        db.owner_url, "SELECT must_change_password FROM web_user WHERE username = 'guanli'"
    )
    assert must_change is True


async def _fetch(url: str, sql: str):
    import asyncpg

    from services.common.db import asyncpg_connect_kwargs

    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()
