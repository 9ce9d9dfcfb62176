"""Accounts, sessions, two-factor sign-in, the throttle and the audit log, through the pages,
on the web's own database (tests/web/system.py). Two-factor tests use web apps of their own
with it on (`totp_required=True`); timeouts and the throttle use a clock the test moves."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from openpyxl import load_workbook

from services.common.db import asyncpg_connect_kwargs
from tests.web.conftest import PASSWORD, csrf_of, login
from tests.web.system import CITY, DISTRICT, OTHER_CITY
from web.service import totp
from web.sessions import COOKIE_NAME

NEW_PASSWORD = "a-new-secret-77"


class Clock:
    """A clock the test moves (the web app's `clock`)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def _form_csrf(c, path: str) -> str:
    return csrf_of((await c.get(path)).text)


async def _audit(web, action: str, subject: str) -> int:
    return await web.count(
        "web",
        f"SELECT count(*) FROM audit_event WHERE action = '{action}' AND subject = '{subject}'",
    )


# --- administrators --------------------------------------------------------------------------


async def test_an_admin_creates_an_account_whose_temporary_password_must_be_changed(web):
    async with web.signed_in("useradmin") as admin:
        form = await admin.get("/admin/users/new", params={"role": "finance"})
        assert form.status_code == 200 and "新建账号" in form.text
        r = await admin.post(
            "/admin/users/new",
            data={
                "csrf_token": csrf_of(form.text),
                "role": "finance",
                "username": "Caiwu_New",
                "display_name": "新来的会计",
                "region": DISTRICT,
            },
        )
        assert r.status_code == 200, r.text
        temporary = re.search(r'id="temporary-password">([^<]+)<', r.text).group(1)
        listing = (await admin.get("/admin/users")).text
        assert "新来的会计" in listing and "caiwu_new" in listing
        # their own row leads to their own account page, not to a refusal
        assert 'id="own-account"' in listing and 'href="/admin/users/useradmin"' not in listing
    async with web.client() as c:
        r = await login(c, "caiwu_new", temporary)
        assert r.status_code == 303
        # every page sends them to change the password first
        assert (await c.get("/finance")).headers["location"] == "/account/password"
        page = await c.get("/account/password")
        assert "临时密码" in page.text
        csrf = csrf_of(page.text)
        for bad, words in (
            (
                {"current": "wrong-one-123", "new": NEW_PASSWORD, "again": NEW_PASSWORD},
                "现在的密码不对",
            ),
            ({"current": temporary, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "x"}, "不一样"),
            ({"current": temporary, "new": "short", "again": "short"}, "至少要 10 个字符"),
        ):
            r = await c.post("/account/password", data={"csrf_token": csrf, **bad})
            assert r.status_code == 422 and words in r.text
        r = await c.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current": temporary,
                "new": NEW_PASSWORD,
                "again": NEW_PASSWORD,
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/finance"
        assert (await c.get("/finance")).status_code == 200
    async with web.client() as c:
        assert (await login(c, "caiwu_new", temporary)).status_code == 401
        assert (await login(c, "caiwu_new", NEW_PASSWORD)).status_code == 303
    assert await _audit(web, "user_created", "caiwu_new") == 1
    assert await _audit(web, "password_changed", "caiwu_new") == 1


async def test_an_admin_makes_provider_and_family_accounts_from_the_services_records(web):
    async with web.signed_in("useradmin") as admin:
        form = await admin.get("/admin/users/new", params={"role": "provider_staff"})
        assert "青秀区幸福助餐点" in form.text  # the provider register of the admin's region
        assert "柳州市颐年养老院" not in form.text  # another city's
        r = await admin.post(
            "/admin/users/new",
            data={
                "csrf_token": csrf_of(form.text),
                "role": "provider_staff",
                "username": "staff_new",
                "display_name": "钱师傅",
                "provider_id": web.p1,
                "terminal_secret": web.terminal_secret,
            },
        )
        staff_password = re.search(r'id="temporary-password">([^<]+)<', r.text).group(1)
        form = await admin.get("/admin/users/new", params={"role": "proxy"})
        r = await admin.post(
            "/admin/users/new",
            data={
                "csrf_token": csrf_of(form.text),
                "role": "proxy",
                "username": "family_new",
                "display_name": "王女士",
                "national_ids": f"{web.national_ids[0]}\n{web.national_ids[1].lower()}",
            },
        )
        assert r.status_code == 200, r.text
        r = await admin.post(
            "/admin/users/new",
            data={
                "csrf_token": csrf_of(form.text),
                "role": "beneficiary",
                "username": "nobody_new",
                "display_name": "查无此人",
                "national_ids": "450103194805201234",
            },
        )
        assert r.status_code == 422 and "找不到身份证号" in r.text
        assert web.national_ids[0] not in r.text  # shown masked at most
    async with web.client() as c:
        await login(c, "staff_new", staff_password)
        csrf = await _form_csrf(c, "/account/password")
        await c.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current": staff_password,
                "new": NEW_PASSWORD,
                "again": NEW_PASSWORD,
            },
        )
        redeem = await c.get("/provider/redeem")
        assert redeem.status_code == 200 and "没有绑定收款终端" not in redeem.text
    row = await web.count(
        "web", "SELECT beneficiary_ids FROM web_user WHERE username = 'family_new'"
    )
    assert row == [web.b1, web.b2]
    stored = await web.count(
        "web", "SELECT terminal_secret FROM web_user WHERE username = 'staff_new'"
    )
    assert stored and web.terminal_secret.encode() not in stored  # encrypted at rest


@pytest.mark.parametrize("who", ["officer", "finance", "auditor", "laowang", "admin1"])
async def test_account_pages_refuse_every_other_role(web, who):
    async with web.signed_in(who) as c:
        assert (await c.get("/admin/users")).status_code == 403
        assert (await c.get("/admin/users/new")).status_code == 403
        csrf = await _form_csrf(c, "/account")
        r = await c.post(
            "/admin/users/new",
            data={
                "csrf_token": csrf,
                "role": "finance",
                "username": "sneaky",
                "display_name": "x",
                "region": DISTRICT,
            },
        )
        assert r.status_code == 403
        r = await c.post(
            "/admin/users/officer/status", data={"csrf_token": csrf, "status": "disabled"}
        )
        assert r.status_code == 403
    assert await web.count("web", "SELECT count(*) FROM web_user WHERE username = 'sneaky'") == 0
    assert (
        await web.count("web", "SELECT status FROM web_user WHERE username = 'officer'") == "active"
    )


async def test_an_admin_of_another_region_cannot_see_or_change_the_account(web):
    async with web.signed_in("useradmin_lz") as c:
        assert "陈经办" not in (await c.get("/admin/users")).text
        assert (await c.get("/admin/users/officer")).status_code == 403
        csrf = await _form_csrf(c, "/admin/users")
        for path, data in (
            ("/admin/users/officer/status", {"status": "disabled"}),
            ("/admin/users/officer/password", {}),
            ("/admin/users/officer/scope", {"display_name": "改名", "region": OTHER_CITY}),
        ):
            r = await c.post(path, data={"csrf_token": csrf, **data})
            assert r.status_code == 403 and "不归您管理" in r.text, path
        form = await c.get("/admin/users/new", params={"role": "auditor"})
        r = await c.post(
            "/admin/users/new",
            data={
                "csrf_token": csrf_of(form.text),
                "role": "auditor",
                "username": "far_auditor",
                "display_name": "外地",
                "region": DISTRICT,
            },
        )
        assert r.status_code == 422 and "只能选择您管理的地区" in r.text
    async with web.signed_in("useradmin") as c:  # and nobody manages their own account
        assert (await c.get("/admin/users/useradmin")).status_code == 403
    assert (
        await web.count("web", "SELECT status FROM web_user WHERE username = 'officer'") == "active"
    )
    assert (
        await web.count("web", "SELECT display_name FROM web_user WHERE username = 'officer'")
        == "陈经办"
    )


async def test_disabling_an_account_ends_its_sessions_at_once_everywhere(web):
    await web.add_account(
        username="temp_officer", role="civil_affairs", display_name="临时经办", region=DISTRICT
    )
    async with (
        web.other_web() as second,  # another web process, same database
        web.signed_in("temp_officer") as one,
        web.client(app=second) as two,
    ):
        assert (await login(two, "temp_officer", PASSWORD)).status_code == 303
        assert (await one.get("/account")).status_code == 200
        assert (await two.get("/account")).status_code == 200
        async with web.signed_in("useradmin") as admin:
            csrf = await _form_csrf(admin, "/admin/users/temp_officer")
            r = await admin.post(
                "/admin/users/temp_officer/status",
                data={"csrf_token": csrf, "status": "disabled"},
            )
            assert r.status_code == 303
            assert "已停用" in (await admin.get("/admin/users/temp_officer")).text
        for c in (one, two):  # (their browsers still hold the ended session's cookie)
            r = await c.get("/account")
            assert r.status_code == 303 and r.headers["location"] == "/login?expired=1"
        assert (await login(two, "temp_officer", PASSWORD)).status_code == 401
        async with web.signed_in("useradmin") as admin:
            csrf = await _form_csrf(admin, "/admin/users/temp_officer")
            await admin.post(
                "/admin/users/temp_officer/status",
                data={"csrf_token": csrf, "status": "active"},
            )
        assert (await login(two, "temp_officer", PASSWORD)).status_code == 303
    assert await _audit(web, "user_disabled", "temp_officer") == 1
    assert await _audit(web, "user_enabled", "temp_officer") == 1


async def test_a_password_reset_ends_the_sessions_and_forces_a_new_password(web):
    await web.add_account(
        username="forgetful", role="auditor", display_name="健忘", region=DISTRICT
    )
    async with web.signed_in("forgetful") as old:
        async with web.signed_in("useradmin") as admin:
            csrf = await _form_csrf(admin, "/admin/users/forgetful")
            r = await admin.post("/admin/users/forgetful/password", data={"csrf_token": csrf})
            temporary = re.search(r'id="temporary-password">([^<]+)<', r.text).group(1)
        assert (await old.get("/account")).status_code == 303
    async with web.client() as c:
        assert (await login(c, "forgetful", PASSWORD)).status_code == 401
        assert (await login(c, "forgetful", temporary)).status_code == 303
        assert (await c.get("/audit/entries")).headers["location"] == "/account/password"
    assert await _audit(web, "password_reset", "forgetful") == 1


async def test_an_admin_changes_the_scope_and_the_token_carries_it_at_the_next_sign_in(web):
    await web.add_account(
        username="mover", role="civil_affairs", display_name="调动", region=DISTRICT
    )
    async with web.signed_in("useradmin") as admin:
        csrf = await _form_csrf(admin, "/admin/users/mover")
        r = await admin.post(
            "/admin/users/mover/scope",
            data={"csrf_token": csrf, "display_name": "调动后", "region": CITY},
        )
        assert r.status_code == 303
    assert await web.count("web", "SELECT region FROM web_user WHERE username = 'mover'") == CITY
    assert await _audit(web, "user_rescoped", "mover") == 1


# --- sessions ----------------------------------------------------------------------------------


async def test_sign_out_everywhere_ends_every_session_of_the_person(web):
    async with (
        web.signed_in("finance2") as a,
        web.signed_in("finance2") as b,
        web.signed_in("finance") as other,
    ):
        csrf = await _form_csrf(a, "/account")
        r = await a.post("/logout/everywhere", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        for c in (a, b):
            assert (await c.get("/finance/claims")).status_code == 303
        assert (await other.get("/account")).status_code == 200  # someone else's stays
        assert (await a.post("/logout/everywhere", data={"csrf_token": csrf})).status_code == 303


async def test_idle_and_absolute_timeouts_and_few_writes(web):
    clock = Clock()
    await web.add_account(username="sleepy", role="auditor", display_name="打盹", region=DISTRICT)
    async with web.other_web(clock=clock) as app, web.client(app=app) as c:
        assert (await login(c, "sleepy", PASSWORD)).status_code == 303
        seen = "SELECT last_seen_at FROM web_session WHERE user_id = (SELECT id FROM web_user WHERE username = 'sleepy') AND revoked_at IS NULL"
        first = await web.count("web", seen)
        clock.advance(seconds=30)
        assert (await c.get("/account")).status_code == 200
        assert await web.count("web", seen) == first  # a page view within the minute: no write
        # Keep using it every 29 minutes: the idle timeout (30 min) never strikes ...
        for _ in range(16):
            clock.advance(minutes=29)
            assert (await c.get("/account")).status_code == 200
        assert await web.count("web", seen) > first
        # ... until 8 hours after sign-in (absolute timeout)
        clock.advance(minutes=20)
        r = await c.get("/account")
        assert r.status_code == 303 and r.headers["location"] == "/login?expired=1"
        # Idle: 31 minutes without a request
        assert (await login(c, "sleepy", PASSWORD)).status_code == 303
        clock.advance(minutes=29)
        assert (await c.get("/account")).status_code == 200
        clock.advance(minutes=31)
        assert (await c.get("/account")).status_code == 303


# --- two-factor sign-in ----------------------------------------------------------------------


async def _enrol(c, username: str) -> tuple[str, list[str]]:
    """Sign in, get sent to enrolment, confirm with a first code: (secret, recovery codes)."""
    r = await login(c, username, PASSWORD)
    assert r.status_code == 303
    assert (await c.get(r.headers["location"])).headers.get("location") == "/account/totp"
    page = await c.get("/account/totp")
    assert page.status_code == 200 and 'src="data:image/png;base64,' in page.text
    secret = re.search(r'id="totp-secret">([^<]+)<', page.text).group(1).replace(" ", "")
    wrong = await c.post("/account/totp", data={"csrf_token": csrf_of(page.text), "code": "000000"})
    assert wrong.status_code == 422
    done = await c.post(
        "/account/totp",
        data={"csrf_token": csrf_of(page.text), "code": totp.code_at(secret, time.time())},
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r'<li class="hash big">([a-z0-9-]+)</li>', done.text)
    return secret, codes


async def _sign_out(c) -> None:
    csrf = await _form_csrf(c, "/account")
    assert (await c.post("/logout", data={"csrf_token": csrf})).status_code == 303


async def _password_then_code(c, username: str, code: str):
    r = await login(c, username, PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/login/code"
    form = await c.get("/login/code")
    return await c.post("/login/code", data={"csrf_token": csrf_of(form.text), "code": code})


async def test_totp_enrolment_is_required_then_sign_in_takes_a_code_each_once(web):
    await web.add_account(
        username="shenji_t", role="auditor", display_name="审计乙", region=DISTRICT
    )
    async with web.other_web(totp_required=True) as app, web.client(app=app) as c:
        # before enrolment every page leads to the enrolment page, nothing else opens
        assert (await login(c, "shenji_t", PASSWORD)).status_code == 303
        for path in ("/audit/entries", "/audit/log", "/account/password"):
            r = await c.get(path)
            assert r.status_code in (200, 303)
            if r.status_code == 303:
                assert r.headers["location"] == "/account/totp", path
        await _sign_out(c)
        secret, codes = await _enrol(c, "shenji_t")
        assert len(codes) == 10 and len(set(codes)) == 10
        assert (await c.get("/audit/log")).status_code == 200
        await _sign_out(c)

        # the password alone opens nothing
        r = await login(c, "shenji_t", PASSWORD)
        assert r.headers["location"] == "/login/code"
        assert (await c.get("/audit/log")).headers["location"] == "/login"
        now = time.time()
        form = await c.get("/login/code")
        used = totp.code_at(secret, now)  # the enrolment used this step already
        for bad in (used, totp.code_at(secret, now - 90), "k7m2p-x9qrt"):
            r = await c.post("/login/code", data={"csrf_token": csrf_of(form.text), "code": bad})
            assert r.status_code == 401 and "验证码不对" in r.text, bad
        good = totp.code_at(secret, now + 30)  # the next step (one either side is accepted)
        r = await c.post("/login/code", data={"csrf_token": csrf_of(form.text), "code": good})
        # (back to the page asked for while the code was still owed)
        assert r.status_code == 303 and r.headers["location"] == "/audit/log"
        assert (await c.get("/audit/log")).status_code == 200
        await _sign_out(c)
        r = await _password_then_code(c, "shenji_t", good)  # the same code again: refused
        assert r.status_code == 401

    stored = await web.count("web", "SELECT totp_secret FROM web_user WHERE username = 'shenji_t'")
    assert secret.encode() not in stored  # encrypted at rest
    assert await _audit(web, "totp_enrolled", "shenji_t") == 1
    assert await _audit(web, "totp_failed", "shenji_t") == 4


async def test_a_recovery_code_signs_in_once(web):
    await web.add_account(
        username="caiwu_t", role="finance", display_name="财务乙", region=DISTRICT
    )
    async with (
        web.other_web(totp_required=True) as app,
        web.client(app=app, address="10.7.0.2") as c,
    ):
        _, codes = await _enrol(c, "caiwu_t")
        await _sign_out(c)
        r = await _password_then_code(c, "caiwu_t", codes[3].upper())
        assert r.status_code == 303 and r.headers["location"] == "/finance"
        await _sign_out(c)
        r = await _password_then_code(c, "caiwu_t", codes[3])
        assert r.status_code == 401
    hashes = await web.count(
        "web",
        "SELECT count(*) FROM recovery_code WHERE used_at IS NOT NULL AND user_id = (SELECT id FROM web_user WHERE username = 'caiwu_t')",
    )
    assert hashes == 1
    assert await _audit(web, "recovery_code_used", "caiwu_t") == 1


async def test_too_many_wrong_codes_ask_for_the_password_again(web):
    await web.add_account(
        username="minzheng_t", role="civil_affairs", display_name="经办乙", region=DISTRICT
    )
    clock = Clock()
    async with (
        web.other_web(totp_required=True, clock=clock) as app,
        web.client(app=app, address="10.7.0.3") as c,
    ):
        clock.now = datetime.now(UTC)
        await _enrol(c, "minzheng_t")
        await _sign_out(c)
        r = await login(c, "minzheng_t", PASSWORD)
        form = await c.get("/login/code")
        for n in range(5):
            clock.advance(seconds=10)  # past any wait the throttle imposes
            r = await c.post(
                "/login/code", data={"csrf_token": csrf_of(form.text), "code": f"00000{n}"}
            )
        assert r.status_code == 401 and "重新输入用户名和密码" in r.text
        assert (await c.get("/login/code")).headers["location"] == "/login"


async def test_an_admin_resets_a_lost_authenticator(web):
    await web.add_account(
        username="lost_phone", role="finance", display_name="丢手机", region=DISTRICT
    )
    async with web.other_web(totp_required=True) as app:
        async with web.client(app=app, address="10.7.0.4") as c:
            await _enrol(c, "lost_phone")
        async with web.signed_in("useradmin") as admin:
            csrf = await _form_csrf(admin, "/admin/users/lost_phone")
            assert (
                await admin.post("/admin/users/lost_phone/totp", data={"csrf_token": csrf})
            ).status_code == 303
        async with web.client(app=app, address="10.7.0.4") as c:
            await _enrol(c, "lost_phone")  # enrols again
    assert await _audit(web, "totp_reset", "lost_phone") == 1


# --- the throttle ----------------------------------------------------------------------------


async def test_an_attackers_wrong_passwords_do_not_lock_the_real_user_out_elsewhere(web):
    await web.add_account(
        username="target", role="provider_admin", display_name="被攻击者", provider_id=web.p1
    )
    clock = Clock()
    async with web.other_web(clock=clock) as app:
        async with web.client(app=app, address="10.20.0.7") as home:  # her usual place
            assert (await login(home, "target", PASSWORD)).status_code == 303
        async with web.client(app=app, address="203.0.113.66") as attacker:
            for n in range(15):
                r = await login(attacker, "target", f"guess-{n}-password")
                if r.status_code == 429:  # wait it out, as a patient attacker does
                    seconds = int(re.search(r"请等 (\d+) (秒|分钟)", r.text).group(1))
                    clock.advance(seconds=seconds * (60 if "分钟" in r.text else 1) + 1)
                    r = await login(attacker, "target", f"guess-{n}-password")
                assert r.status_code == 401, r.text
            r = await login(attacker, "target", PASSWORD)  # even the right password waits
            assert r.status_code == 429 and "分钟后再试" in r.text
        # from her usual place she signs in at once
        async with web.client(app=app, address="10.20.0.7") as home:
            assert (await login(home, "target", PASSWORD)).status_code == 303
        # from a place she never used she waits at most half a minute, then gets in
        async with web.client(app=app, address="198.51.100.9") as cafe:
            r = await login(cafe, "target", PASSWORD)
            if r.status_code == 429:
                assert "秒后再试" in r.text
                clock.advance(seconds=30)
                r = await login(cafe, "target", PASSWORD)
            assert r.status_code == 303
        async with web.client(app=app, address="203.0.113.66") as attacker:
            assert (await login(attacker, "target", PASSWORD)).status_code == 429  # still held
    assert await _audit(web, "sign_in_throttled", "target") >= 1
    assert await _audit(web, "sign_in_failed", "target") == 15


async def test_guessing_many_accounts_from_one_address_slows_that_address(web):
    clock = Clock()
    async with web.other_web(clock=clock) as app, web.client(app=app, address="192.0.2.200") as c:
        for n in range(21):
            r = await login(c, f"nobody{n}", "whatever-password")
            assert r.status_code == 401
        r = await login(c, "officer", PASSWORD)
        assert r.status_code == 429  # that address waits, whichever account it tries
    async with web.client(address="192.0.2.201") as elsewhere:
        assert (await login(elsewhere, "officer", PASSWORD)).status_code == 303


# --- the audit log ---------------------------------------------------------------------------


async def test_the_auditor_reads_and_exports_the_account_log(web):
    async with web.client(address="10.30.0.1") as c:
        assert (await login(c, "laowang", "not-his-password")).status_code == 401
        assert (await login(c, "laowang", PASSWORD)).status_code == 303
    async with web.signed_in("auditor") as c:
        page = await c.get("/audit/log", params={"user": "laowang"})
        assert page.status_code == 200
        events = re.findall(r'<li class="card event">\s*<p><strong>([^<]+)</strong>', page.text)
        assert events[:2] == ["登录成功", "登录失败（密码不对）"]  # newest first
        assert "10.30.0.1" in page.text and "UTC" not in page.text
        today = datetime.now(UTC).astimezone().date()
        empty = await c.get(
            "/audit/log", params={"user": "laowang", "end": str(today - timedelta(days=3))}
        )
        assert "没有符合条件的记录" in empty.text
        assert "日期请按" in (await c.get("/audit/log", params={"start": "tomorrow"})).text
        f = await c.get("/audit/log.csv", params={"user": "laowang"})
        assert f.status_code == 200 and f.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(f.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["时间", "事件", "操作人"] and rows[1][1] == "登录成功"
        x = await c.get("/audit/log.xlsx", params={"user": "laowang"})
        sheet = load_workbook(io.BytesIO(x.content)).active
        assert sheet.cell(1, 2).value == "事件" and sheet.cell(2, 2).value == "登录成功"
    async with web.signed_in("auditor_city") as c:  # another city's auditor: not this district
        page = await c.get("/audit/log", params={"user": "laowang"})
        assert "登录成功" not in page.text
    async with web.signed_in("officer") as c:
        assert (await c.get("/audit/log")).status_code == 403
        assert (await c.get("/audit/log.csv")).status_code == 403
    assert (
        await web.count("web", "SELECT count(*) FROM audit_event WHERE action = 'audit_exported'")
        >= 2
    )


async def test_the_web_role_cannot_change_or_remove_audit_events(web):
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(web.dbs["web"].app_url))
    try:
        await conn.execute("INSERT INTO audit_event (action, subject) VALUES ('sign_out', 'probe')")
        for sql in (
            "UPDATE audit_event SET subject = 'rewritten'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_the_database_keeps_no_secret_in_the_clear(web):
    hashes = await web.count("web", "SELECT string_agg(password_hash, ' ') FROM web_user")
    assert PASSWORD not in hashes and hashes.count("$argon2id$") >= 10
    async with web.signed_in("laowang") as c:
        cookie = c.cookies[COOKIE_NAME]
    cookies = await web.count(
        "web", "SELECT string_agg(encode(token_hash, 'escape'), ' ') FROM web_session"
    )
    assert cookie not in cookies


async def test_housekeeping_forgets_ended_sessions_and_stale_throttle_counters(web):
    from services.common.db import Database
    from web.service import sessions

    clock = Clock()
    await web.add_account(username="tidy", role="auditor", display_name="整理", region=DISTRICT)
    async with web.other_web(clock=clock) as app:
        async with web.client(app=app, address="10.40.0.1") as c:
            assert (await login(c, "tidy", PASSWORD)).status_code == 303
            assert (await login(c, "tidy", "wrong-password-1")).status_code == 401
        ident = app.state.web.identity
        mine = "SELECT count(*) FROM web_session WHERE user_id = (SELECT id FROM web_user WHERE username = 'tidy')"
        counters = (
            "SELECT count(*) FROM sign_in_throttle WHERE key LIKE 'tidy%' OR key = '10.40.0.1'"
        )
        assert await web.count("web", mine) == 1 and await web.count("web", counters) == 3
        db = Database(web.dbs["web"].app_url, pool_size=1)
        try:
            clock.advance(hours=2)  # the failures are forgotten, the session still lives
            async with db.unit_of_work() as s:
                await sessions.housekeeping(s, ident)
            assert await web.count("web", mine) == 1
            # the address she signed in from is remembered (it spares her the account's count)
            assert await web.count("web", counters) == 2
            clock.advance(hours=8, days=1)  # ended more than a day ago
            async with db.unit_of_work() as s:
                await sessions.housekeeping(s, ident)
            assert await web.count("web", mine) == 0
        finally:
            await db.dispose()
