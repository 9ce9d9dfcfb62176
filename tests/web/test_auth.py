"""Sign-in, sessions, CSRF, sign-out and role-based page refusal."""

from __future__ import annotations

import pytest

from services.common.settings import get_common_settings
from tests.web.conftest import PASSWORD, csrf_of, login
from web.config import WebSettings
from web.sessions import COOKIE_NAME


async def test_sign_in_sets_a_hardened_cookie_and_keeps_the_token_server_side(web_shell):
    web = web_shell
    async with web.client() as c:
        r = await login(c, "laowang", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/me"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        value = c.cookies[COOKIE_NAME]
        # no JWT in the browser: no part of the value is a base64 JSON header ("eyJ...");
        # the random bytes of a session token may hold those three letters anywhere else
        assert not any(part.startswith("eyJ") for part in value.split("."))
        # The database keeps only the cookie's keyed hash, never the cookie itself.
        hashed = web.app.state.web.identity.token_hash(value)
        found = await web.count(
            "web", f"SELECT count(*) FROM web_session WHERE token_hash = '\\x{hashed.hex()}'"
        )
        assert found == 1 and hashed != value.encode()
        home = await c.get("/me")  # the voucher service accepted the token minted for her
        assert home.status_code == 200 and "王大爷" in home.text


async def test_secure_cookie_flag_is_configurable(web_shell):
    import httpx

    async with (
        web_shell.other_web(cookie_secure=True) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://testserver"
        ) as c,
    ):
        r = await login(c, "laowang", PASSWORD)
        assert "Secure" in r.headers["set-cookie"]


@pytest.mark.parametrize(
    "username,password", [("laowang", "wrong-password"), ("nobody", PASSWORD), ("", "")]
)
async def test_wrong_credentials_are_refused_and_create_no_session(web_shell, username, password):
    web = web_shell
    before = await web.count("web", "SELECT count(*) FROM web_session")
    async with web.client() as c:
        r = await login(c, username, password)
        assert r.status_code == 401 and "用户名或密码不对" in r.text
        assert COOKIE_NAME not in c.cookies
    assert await web.count("web", "SELECT count(*) FROM web_session") == before


async def test_pages_need_a_session_and_a_forged_cookie_is_not_one(web_shell):
    web = web_shell
    async with web.client() as c:
        assert (await c.get("/me")).headers["location"] == "/login"
        c.cookies.set(COOKIE_NAME, "made-up.0123456789abcdef0123456789abcdef")
        assert (await c.get("/audit/chain")).status_code == 303


async def test_sign_out_needs_the_csrf_token_and_then_ends_the_session(web_shell):
    web = web_shell
    async with web.signed_in("auditor") as c:
        page = await c.get("/audit/chain")
        refused = await c.post("/logout", data={"csrf_token": "not-the-token"})
        assert refused.status_code == 403 and "页面已过期" in refused.text
        assert (await c.get("/audit/chain")).status_code == 200  # still signed in
        cookie = c.cookies[COOKIE_NAME]
        out = await c.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        c.cookies.set(COOKIE_NAME, cookie)  # replaying the old cookie does not work
        assert (await c.get("/audit/chain")).status_code == 303


async def test_every_post_form_refuses_a_missing_csrf_token(web_shell):
    web = web_shell
    people = await web.count("voucher", "SELECT count(*) FROM beneficiary")
    runs = await web.count("voucher", "SELECT count(*) FROM issuance_run")
    cases = {
        "xiaoli": ["/me/act-for", "/me/qr/code"],
        "staff1": ["/provider/redeem", "/provider/redeem/confirm"],
        "officer": [
            "/officer/enrol",
            "/officer/import",
            "/officer/issuance",
            f"/officer/providers/{web.p_new}/approve",
        ],
        "admin1": ["/provider/claims"],
        "finance": ["/finance/claims/x/approve"],
    }
    for user, paths in cases.items():
        async with web.signed_in(user) as c:
            for path in paths:
                r = await c.post(path, data={"reason": "x", "beneficiary_id": "x"})
                assert r.status_code == 403, (user, path)
    assert await web.provider_status(web.p_new) == "applied"
    assert await web.count("voucher", "SELECT count(*) FROM beneficiary") == people
    assert await web.count("voucher", "SELECT count(*) FROM issuance_run") == runs
    assert await web.count("ledger", "SELECT count(*) FROM claim") == 0


async def test_claims_refuse_the_wrong_role_even_with_a_valid_form(web_shell):
    """Provider staff (not the admin) and finance cannot claim; the admin cannot approve."""
    web = web_shell
    for user in ("staff1", "finance"):
        async with web.signed_in(user) as c:
            page = await c.get("/provider/today" if user == "staff1" else "/finance")
            r = await c.post(
                "/provider/claims",
                data={
                    "csrf_token": csrf_of(page.text),
                    "period": "2026-11",
                    "idempotency_key": "3f1a4a9e-0000-4000-8000-000000000009",
                },
            )
            assert r.status_code == 403, user
    async with web.signed_in("admin1") as c:
        page = await c.get("/provider/admin")
        r = await c.post(
            "/finance/claims/3f1a4a9e-0000-4000-8000-000000000009/approve",
            data={"csrf_token": csrf_of(page.text)},
        )
        assert r.status_code == 403
    assert await web.count("ledger", "SELECT count(*) FROM claim") == 0


@pytest.mark.parametrize(
    "user,path",
    [
        ("laowang", "/audit/chain"),
        ("laowang", "/officer/enrol"),
        ("laowang", "/provider/redeem"),
        ("staff1", "/me"),
        ("staff1", "/finance"),
        ("officer", "/audit/entries"),
        ("finance", "/officer/providers"),
        ("staff1", "/provider/admin"),
        ("admin1", "/officer/issuance"),
        ("finance", "/audit/chain"),
        ("auditor", "/me/qr"),
        ("auditor", "/finance/claims"),
        ("staff1", "/finance/reconciliation"),
        ("xiaoli", "/finance/budget"),
        ("staff1", "/provider/claims"),
        ("finance", "/provider/claims"),
        ("admin1", "/finance/claims"),
    ],
)
async def test_each_page_refuses_other_roles(web_shell, user, path):
    web = web_shell
    async with web.signed_in(user) as c:
        r = await c.get(path)
        assert r.status_code == 403 and "不能打开这个页面" in r.text


async def test_navigation_shows_only_the_roles_pages(web_shell):
    web = web_shell
    async with web.signed_in("laowang") as c:
        html = (await c.get("/me")).text
        assert "出示付款码" in html and "/audit/" not in html and "/officer/" not in html
    async with web.signed_in("auditor") as c:
        html = (await c.get("/audit/entries")).text
        assert "防篡改校验" in html and "/me/qr" not in html


def test_development_session_secret_is_refused_in_production(monkeypatch):
    monkeypatch.setenv("YIYANG_ENV", "production")
    monkeypatch.setenv("YIYANG_AUTH_PRIVATE_KEY", "a-production-key-set-by-the-operator")
    monkeypatch.setenv("YIYANG_AUTH_PUBLIC_KEY", "a-production-public-key")
    get_common_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="SESSION_SECRET"):
            WebSettings()
        assert WebSettings(
            session_secret="s" * 48,
            stripe_publishable_key="pk_live_of_the_operator",
            pii_encryption_key="ab" * 32,
            pii_hash_key="cd" * 32,
        ).secure_cookies
        with pytest.raises(ValueError, match="TOTP_REQUIRED"):
            WebSettings(
                session_secret="s" * 48,
                stripe_publishable_key="pk_live_of_the_operator",
                pii_encryption_key="ab" * 32,
                pii_hash_key="cd" * 32,
                totp_required=False,
            )
    finally:
        monkeypatch.setenv("YIYANG_ENV", "test")
        get_common_settings.cache_clear()


async def test_repeated_wrong_passwords_hold_up_that_account_from_that_place(web_shell):
    """Three wrong passwords are free; the fourth makes the next try from there wait (the
    page says how long, in plain words); other people are not affected."""
    web = web_shell
    async with web.client(address="10.9.0.1") as c:
        for _ in range(4):
            r = await login(c, "auditor_city", "guess-123-x")
            assert r.status_code == 401
        r = await login(c, "auditor_city", PASSWORD)
        assert r.status_code == 429 and "秒后再试" in r.text and COOKIE_NAME not in c.cookies
        ok = await login(c, "auditor", PASSWORD)
        assert ok.status_code == 303  # other people are not affected


async def test_a_service_that_is_down_gives_a_plain_message_not_an_error(web_shell):
    """The same web app with the ledger unreachable (a closed port): pages say "busy"."""
    import httpx

    from services.common.settings import CommonSettings
    from web.clients import Transports

    t = web_shell.transports
    async with web_shell.other_web(
        common=CommonSettings(ledger_url="http://127.0.0.1:9"),
        transports=Transports(voucher=t.voucher, provider=t.provider),
    ) as app:
        for user, path, params in (
            ("auditor", "/audit/chain", {"run": 1}),
            ("finance", "/finance", {}),
        ):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as c:
                assert (await login(c, user, PASSWORD)).status_code == 303
                r = await c.get(path, params=params)
                assert r.status_code == 200 and "系统暂时忙" in r.text


async def test_pages_send_security_headers(web_shell):
    async with web_shell.signed_in("laowang") as c:
        r = await c.get("/me")
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


async def test_sign_in_form_needs_its_own_csrf_token(web_shell):
    async with web_shell.client() as c:
        r = await c.post("/login", data={"username": "laowang", "password": PASSWORD})
        assert r.status_code == 403 and COOKIE_NAME not in c.cookies
        await c.get("/login")  # has the cookie now, but a forged field does not match
        r = await c.post(
            "/login", data={"username": "laowang", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert r.status_code == 403 and COOKIE_NAME not in c.cookies
        assert (await login(c, "laowang", PASSWORD)).status_code == 303
