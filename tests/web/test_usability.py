"""What a new user trips over (issue 18), without a browser: error answers are pages in
Chinese with a way back, codes are shown as words, times in Beijing time, the header names
the role once, a provider's forms offer only what its state allows, the trial balance is
grouped and searchable, the budget shows how it was used, and a script whose session ended
is told to sign in again. The browser side is tests/web/test_browser_usability.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from tests.web.conftest import at_confirm, csrf_of, sent_back
from tests.web.system import DISTRICT, MEAL_POINT
from web import labels, tables


def _text(html: str) -> str:
    """The words a person reads (tags and scripts left out)."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


# --- the label module --------------------------------------------------------------------


def test_labels_times_and_masks_are_chinese_and_beijing_time():
    assert labels.label("approved", "provider_status") == "已批准"
    assert labels.label("disability_subsidy", "program") == "失能老年人养老服务消费补贴"
    assert labels.label("MEAL_LUNCH", "service") == "午餐"
    assert labels.label("appropriation", "entry_kind") == "预算下达"
    assert labels.label("2201", "account_class") == "负债类"
    assert labels.label("copay", "funding") == "老人自付"
    assert labels.label(None, "provider_status") == ""
    # A code nobody labelled yet is visibly unknown rather than passed off as a word.
    assert labels.label("frozen", "provider_status") == "未知（frozen）"
    assert labels.local_time("2026-11-30T16:30:00Z") == "2026-12-01 00:30"
    assert labels.local_time(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == "2026-01-01 08:00"
    assert labels.local_time("") == ""
    assert labels.mask_name("王大爷") == "王**"
    assert labels.mask_name("欧阳") == "欧*"
    assert labels.region("450103") == "南宁市 青秀区"
    assert labels.short_id("0f8e2c1a-1111-2222-3333-444455556666") == "55556666"


def test_trial_balance_groups_by_class_and_account_with_subtotals_and_search():
    rows = [
        {"code": "1001", "name": "treasury_cash", "region_code": "450100",
         "program_code": "meal_assistance", "funding_source": "central",
         "debit_fen": 1000, "credit_fen": 0},
        {"code": "1001", "name": "treasury_cash", "region_code": "450103",
         "program_code": "disability_subsidy", "funding_source": "central",
         "debit_fen": 500, "credit_fen": 100},
        {"code": "2201", "name": "provider_payable", "region_code": "450103",
         "program_code": "meal_assistance", "funding_source": "regional",
         "debit_fen": 0, "credit_fen": 300},
    ]  # fmt: skip
    groups = tables.trial_balance_groups(rows)
    assert [g.title for g in groups] == ["资产类", "负债类"]
    assert (groups[0].debit_fen, groups[0].credit_fen) == (1500, 100)
    assert [a.title for a in groups[0].children] == ["1001 国库资金"]
    assert len(groups[0].children[0].rows) == 2
    # search by Chinese words, a code, a region's name; several words must all match
    assert [g.key for g in tables.trial_balance_groups(rows, "应付")] == ["2"]
    assert [g.key for g in tables.trial_balance_groups(rows, "1001")] == ["1"]
    found = tables.trial_balance_groups(rows, "青秀区 助餐")
    assert [r["code"] for g in found for a in g.children for r in a.rows] == ["2201"]
    assert tables.trial_balance_groups(rows, "没有这个") == []


# --- error pages ---------------------------------------------------------------------------


async def test_unknown_pages_and_wrong_methods_are_chinese_pages_with_a_way_home(web):
    async with web.client() as c:
        r = await c.get("/no/such/page")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "没有找到这个页面" in r.text and 'href="/"' in r.text and "返回首页" in r.text
        assert "Not Found" not in r.text and '{"detail"' not in r.text
        # the icon every browser asks for: nothing, not an error page each first visit
        icon = await c.get("/favicon.ico")
        assert icon.status_code == 204 and icon.content == b""
    async with web.signed_in("staff1") as c:
        r = await c.get("/provider/redemptions/x/void")  # a form's target opened by hand
        assert r.status_code == 405 and "这个页面不能这样打开" in r.text
        assert "Method Not Allowed" not in r.text and "POST" in r.headers.get("allow", "")
        r = await c.get("/static/nothing.css")
        assert r.status_code == 404 and "没有找到这个页面" in r.text
        # The way back: the page the person came from, when it is one of ours.
        r = await c.get("/nowhere", headers={"referer": "http://testserver/provider/today"})
        assert 'href="http://testserver/provider/today"' in r.text and "返回上一页" in r.text
        r = await c.get("/nowhere", headers={"referer": "https://evil.example/"})
        assert "evil.example" not in r.text


async def test_bad_query_values_are_explained_not_json(web):
    async with web.signed_in("laowang") as c:
        r = await c.get("/me/nearby", params={"lat": "north", "lon": "108"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
        assert "提交的内容不正确" in r.text and "float_parsing" not in r.text


async def test_an_unforeseen_failure_is_a_chinese_page(web):
    async with web.other_web() as app:

        async def boom() -> None:
            raise RuntimeError("kaboom")

        app.add_api_route("/boom", boom)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.get("/boom")
            assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
            assert "系统暂时出了问题" in r.text and "kaboom" not in r.text
            assert "Internal Server Error" not in r.text and "返回首页" in r.text


async def test_a_script_whose_session_ended_is_told_to_sign_in(web):
    """The payment-code page's script gets a 401 it understands, not the sign-in page's HTML
    (which it used to parse as JSON, and retry for ever)."""
    async with web.signed_in("laowang") as c:
        page = await c.get("/me/qr")
        token = csrf_of(page.text)
        ok = await c.post("/me/qr/code", headers={"X-CSRF-Token": token})
        assert ok.status_code == 200 and ok.json()["image"].startswith("data:image/svg")
        await c.post("/logout", data={"csrf_token": token})
        r = await c.post("/me/qr/code", headers={"X-CSRF-Token": token})
        assert r.status_code == 401
        assert r.json()["error"] == {
            "code": "UNAUTHENTICATED",
            "message": "登录已过期，请重新登录。",
            "login": "/login?expired=1",
        }
        # a person opening a page still goes to the sign-in page
        r = await c.get("/me/qr")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


# --- words, not codes ----------------------------------------------------------------------


async def test_the_header_names_the_role_once(web):
    for username, role in (("officer", "民政经办人"), ("staff1", "服务机构操作员")):
        async with web.signed_in(username) as c:
            home = await c.get("/", follow_redirects=True)
            header = re.search(r"<header.*?</header>", home.text, re.S).group(0)
            assert _text(header).count(role) == 1, header
    await web.add_account(
        username="jingban2", role="civil_affairs", display_name="南宁民政经办人", region=DISTRICT
    )
    async with web.signed_in("jingban2") as c:
        header = re.search(r"<header.*?</header>", (await c.get("/officer/enrol")).text, re.S)
        assert _text(header.group(0)).count("民政经办人") == 1


async def test_provider_pages_show_words_and_only_the_actions_the_state_allows(web):
    async with web.signed_in("officer") as c:
        applied = await c.get("/officer/providers", params={"status": "applied"})
        words = _text(applied.text)
        assert "待审批" in words and "居家上门服务机构" in words and "南宁市 青秀区" in words
        for raw in ("applied", "home_care", "450103"):
            assert raw not in words, raw
        card = re.search(r'<section class="card provider".*?</section>', applied.text, re.S)
        assert "/approve" in card.group(0) and "/suspend" not in card.group(0)
        approved = await c.get("/officer/providers", params={"status": "approved"})
        cards = re.findall(r'<section class="card provider".*?</section>', approved.text, re.S)
        assert cards, "the seeded meal point is approved"
        for card_html in cards:
            assert "/suspend" in card_html and "/approve" not in card_html
            assert "已批准" in _text(card_html) and "approved" not in _text(card_html)


async def test_pages_show_no_raw_codes(web):
    """A walk over the main pages of each role: none shows a status, programme, account,
    service code or a UUID as it is stored."""
    raw = re.compile(
        r"\b(approved|suspended|applied|disability_subsidy|meal_assistance|nursing_subsidy|"
        r"copay|appropriation|MEAL_LUNCH|treasury_cash|provider_payable|active|exhausted)\b|"
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    )
    pages = {
        "laowang": ["/me", "/me/history", "/me/copay", "/me/nearby", "/me/qr"],
        "xiaoli": ["/me", "/me/qr"],
        "staff1": ["/provider/redeem", "/provider/today"],
        "admin1": ["/provider/admin", "/provider/claims", "/provider/statement"],
        "officer": ["/officer/enrol", "/officer/providers", "/officer/issuance"],
        "finance": ["/finance", "/finance/budget", "/finance/claims", "/finance/payments"],
    }
    for username, paths in pages.items():
        async with web.signed_in(username) as c:
            for path in paths:
                r = await c.get(path)
                assert r.status_code == 200, (path, r.status_code)
                found = raw.search(_text(r.text))
                assert found is None, f"{username} {path}: {found.group(0) if found else ''}"


async def test_trial_balance_is_grouped_and_searchable(web):
    async with web.signed_in("finance") as c:
        r = await c.get("/finance")
        assert "借贷平衡" in r.text
        classes = re.findall(r'<details class="tb-class card" data-class="(\d)"', r.text)
        assert classes[:2] == ["1", "2"] and len(set(classes)) == len(classes)
        assert "资产类" in r.text and "1001 国库资金" in r.text and 'id="tb-q"' in r.text
        found = await c.get("/finance", params={"q": "流通中"})
        assert re.findall(r'data-code="(\d+)"', found.text) == ["2101"]
        assert "找到" in found.text
        none = await c.get("/finance", params={"q": "没有这个科目"})
        assert "没有相符的科目" in none.text
    async with web.signed_in("auditor") as c:  # the auditor's page is the same template
        r = await c.get("/audit/trial-balance", params={"q": "2101"})
        assert re.findall(r'data-code="(\d+)"', r.text) == ["2101"]


async def test_budget_chart_shows_appropriated_committed_spent_released(web):
    async with web.signed_in("finance") as c:
        html = (await c.get("/finance/budget", params={"region_code": DISTRICT})).text
    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(charts) == 3
    for word in ("已下达", "已承诺", "已支出", "已释放", "可用"):
        assert all(word in chart for chart in charts), word
    # the district's meal budget: 10,000,000 fen appropriated, this month's vouchers committed
    meal = next(chart for chart in charts if "老年助餐" in chart)
    assert "已下达: 100,000.00 元" in meal
    r = await web.ledger.get(
        "/v1/budget",
        params={"program_code": "meal_assistance", "region_code": DISTRICT},
        headers=web.tokens.headers("finance", sub="test:f", region=DISTRICT),
    )
    b = r.json()
    assert b["appropriated_fen"] == 10_000_000
    assert b["committed_fen"] > 0
    assert b["appropriated_fen"] - b["committed_fen"] + b["released_fen"] == b["available_fen"]


# --- the cashier ---------------------------------------------------------------------------


async def test_confirm_redirects_to_a_result_page_that_reload_and_back_only_show_again(web):
    """Post/redirect/get at both steps: the bill answers 303 to the confirm step's own
    address (reloading it shows the same bill and asks the service nothing), 确认收款
    answers 303 to the result's own address; reloading it shows the same result; Back to
    the confirm step goes to that result; sending the bill again (the form re-posted with
    the same code) shows that redemption, not "already used" and not a second charge."""
    from tests.web.test_pages import _preview

    before = await web.balance(web.b1, "disability_subsidy")
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "12")
        assert preview.history[0].status_code == 303
        confirm_url = str(preview.url)
        assert re.fullmatch(
            r"http://testserver/provider/redeem/confirm\?k=[0-9a-f-]{36}", confirm_url
        )
        assert token not in confirm_url
        reloaded = await c.get(confirm_url)
        assert reloaded.status_code == 200 and 'id="preview-subsidy">6.00<' in reloaded.text
        assert 'id="bill-gross">12.00<' in reloaded.text and "请核对" in reloaded.text
        # whose code it is, masked, for the cashier to check with the person (王大爷)
        assert re.search(r'id="payer">付款人：<strong>王\*+</strong>', reloaded.text)
        # 返回修改: step 1 with this very bill in it, code and all, to change and send again
        edit = re.search(r'href="(/provider/redeem/confirm/edit\?k=[0-9a-f-]+)"', reloaded.text)
        step_1 = await c.get(edit.group(1), follow_redirects=True)
        assert sent_back(step_1) and "请扫描或输入" not in step_1.text
        assert re.search(r'name="price_BATH_HOME"[^>]*value="12.00"', step_1.text)
        assert re.search(r'name="qty_BATH_HOME"[^>]*value="1"', step_1.text)
        assert f'value="{token}"' in step_1.text
        assert 'id="token-countdown"' in preview.text  # how long the code stays valid
        left = int(re.search(r'id="token-left">(\d+)<', preview.text).group(1))
        assert 0 < left <= 180
        assert 'id="preview-subsidy">6.00<' in preview.text
        assert 'id="preview-copay">6.00<' in preview.text
        data = {
            "csrf_token": csrf_of(preview.text),
            "token": token,
            "bill": re.search(r'name="bill" value="([^"]*)"', preview.text).group(1),
            "gross_fen": "1200",
            "idempotency_key": re.search(
                r'name="idempotency_key" value="([^"]*)"', preview.text
            ).group(1),
        }
        r = await c.post("/provider/redeem/confirm", data=data)
        assert r.status_code == 303
        where = r.headers["location"]
        assert re.fullmatch(r"/provider/redeemed/[\w-]+", where)
        shown = await c.get(where)
        assert "收款成功" in shown.text and 'id="subsidy">6.00<' in shown.text
        assert "补贴券余额" in shown.text  # once, with the redirect
        again = await c.get(where)  # reload
        assert "收款成功" in again.text and 'id="copay">6.00<' in again.text
        # Back to the confirm step: it is paid, so it goes to the result, with a word
        back = await c.get(confirm_url)
        assert back.status_code == 303 and back.headers["location"] == where
        shown = await c.get(where)
        assert "已经收款了，没有重复收费" in shown.text and "收款成功" in shown.text
        # the confirm form sent again (a page kept open): the same redemption
        r = await c.post("/provider/redeem/confirm", data=data)
        assert r.status_code == 303 and r.headers["location"] == where
        # the bill form re-posted with the same code: the code is used, by this very bill
        form = await c.get("/provider/redeem")
        resent = await c.post(
            "/provider/redeem",
            data={
                "csrf_token": csrf_of(form.text),
                "token": token,
                "qty_BATH_HOME": "1",
                "price_BATH_HOME": "12",
            },
        )
        assert resent.status_code == 303 and resent.headers["location"] == where
        shown = await c.get(where)
        assert "已经收过款了" in shown.text and "已经用过" not in shown.text
        # another bill with the used code is still refused
        other = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={
                "csrf_token": csrf_of(form.text),
                "token": token,
                "qty_BATH_HOME": "1",
                "price_BATH_HOME": "13",
            },
        )
        assert sent_back(other) and "已经用过" in other.text
        # an id that is not this provider's answers like an unknown one
        assert (await c.get("/provider/redeemed/not-a-redemption")).status_code == 404
    assert await web.balance(web.b1, "disability_subsidy") == before - 600
    async with web.signed_in("laowang") as c:
        assert (await c.get(where)).status_code == 403


async def test_the_confirm_step_lapses_for_another_sign_in_and_after_a_price_change(web):
    """The bill waiting at the confirm step's address is this sign-in's only: the same
    cookie in another session, or none, goes back to step 1 and says so. A price list
    changed since the bill was priced sends the cashier back too, never showing a total
    other than the one the subsidy was worked out for. The card's PIN crosses sealed."""
    from tests.web.test_pages import _preview

    async with web.signed_in("staff1") as c:
        _, preview = await _preview(web, c, "", service="MEAL_LUNCH")
        confirm_url = str(preview.url)
        assert 'id="bill-gross">15.00<' in preview.text
        sealed = c.cookies.get("yiyang_bill", path="/provider/redeem/confirm")
        assert sealed
        async with web.signed_in("staff1") as other:
            lapsed = await other.get(confirm_url)
            assert lapsed.status_code == 303 and lapsed.headers["location"] == "/provider/redeem"
            other.cookies.set("yiyang_bill", sealed, path="/provider/redeem/confirm")
            lapsed = await other.get(confirm_url, follow_redirects=True)
            assert "这张账单已经失效，请重新扫码" in lapsed.text and "请核对" not in lapsed.text
        dearer = [
            {**item, "price_fen": 1600} if item["code"] == "MEAL_LUNCH" else item
            for item in MEAL_POINT["services"]
        ]
        try:
            await web.set_prices(web.p1, dearer)  # (approved by an officer: it raises)
            moved = await c.get(confirm_url, follow_redirects=True)
            assert str(moved.url).endswith("/provider/redeem")
            assert "价目表刚刚更新了" in moved.text and "请核对" not in moved.text
        finally:
            await web.set_prices(web.p1, MEAL_POINT["services"])
        again = await c.get(confirm_url)
        assert again.status_code == 200 and 'id="bill-gross">15.00<' in again.text


async def test_the_cashier_can_type_the_short_numeric_code(web):
    """The phone shows 18 digits under the QR; typed (with its spaces) at the counter they
    stand for that code: preview, confirm, result; wrong digits are explained in Chinese."""
    before = await web.balance(web.b1, "disability_subsidy")
    async with web.signed_in("laowang") as c:
        page = await c.get("/me/qr")
        code = (await c.post("/me/qr/code", headers={"X-CSRF-Token": csrf_of(page.text)})).json()
    typed = code["short_code"]
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4} \d{2}", typed)
    async with web.signed_in("staff1") as c:
        form = await c.get("/provider/redeem")
        wrong = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={
                "csrf_token": csrf_of(form.text),
                "token": "1111 2222 3333 4444 55",
                "qty_BATH_HOME": "1",
                "price_BATH_HOME": "8",
            },
        )
        assert sent_back(wrong) and "这串数字不对或已过期" in wrong.text
        preview = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={
                "csrf_token": csrf_of(form.text),
                "token": typed,
                "qty_BATH_HOME": "1",
                "price_BATH_HOME": "8",
            },
        )
        assert at_confirm(preview), preview.text
        assert 'id="preview-subsidy">4.00<' in preview.text
        token = re.search(r'name="token" value="([^"]*)"', preview.text).group(1)
        assert token == typed.replace(" ", "")
        done = await c.post(
            "/provider/redeem/confirm",
            data={
                "csrf_token": csrf_of(preview.text),
                "token": token,
                "bill": re.search(r'name="bill" value="([^"]*)"', preview.text).group(1),
                "gross_fen": "800",
                "idempotency_key": re.search(
                    r'name="idempotency_key" value="([^"]*)"', preview.text
                ).group(1),
            },
            follow_redirects=True,
        )
        assert "收款成功" in done.text and 'id="subsidy">4.00<' in done.text
    assert await web.balance(web.b1, "disability_subsidy") == before - 400


def test_a_refusal_is_never_shown_in_english():
    from web.clients import ApiError

    assert ApiError(409, "TOKEN_USED", "This code was already used.").friendly.startswith("这个")
    unknown = ApiError(409, "SOMETHING_NEW", "The thing is in the wrong state.")
    assert unknown.friendly == "当前状态下不能进行这个操作，请刷新页面看看最新情况。"
    assert ApiError(422, "NEW_CHECK", "这个字段不对。").friendly == "这个字段不对。"
    assert (
        ApiError(503, "DOWN", "Service unavailable").friendly
        == "系统暂时无法完成这项操作，请稍后再试。"
    )


def test_a_programme_created_as_data_is_named_as_its_officers_published_it():
    from web.labels import program_name

    names = {"family_care_bed": "家庭养老床位"}
    assert program_name({"program_code": "meal_assistance"}, "program_short") == "老年助餐"
    assert program_name({"program_code": "family_care_bed", "program_name": "家庭养老床位"}) == (
        "家庭养老床位"
    )
    assert program_name({"program_code": "family_care_bed"}, "program_short", names) == (
        "家庭养老床位"
    )
    assert program_name({"program_code": "nobody_knows"}, "program_short", names) == (
        "未知（nobody_knows）"
    )


async def test_an_ended_session_says_so_and_sign_in_returns_to_the_page(web):
    """A cashier whose session ended (here: signed out everywhere from another phone) is
    told why on the sign-in page, and signing in again goes back to the page they were on;
    for a form sent after the end, to the page the form was on. Only our own pages are
    gone back to."""
    from tests.web.system import PASSWORD, login
    from web.render import home_of

    async with web.signed_in("staff2") as here, web.signed_in("staff2") as other:
        assert (await here.get("/provider/today")).status_code == 200
        csrf = csrf_of((await other.get("/account")).text)
        assert (
            await other.post("/logout/everywhere", data={"csrf_token": csrf})
        ).status_code == 303

        gone = await here.get("/provider/today")
        assert gone.status_code == 303 and gone.headers["location"] == "/login?expired=1"
        form = await here.get(gone.headers["location"])
        assert "登录已过期" in form.text and 'id="expired"' in form.text
        again = await login(here, "staff2", PASSWORD)
        assert again.status_code == 303 and again.headers["location"] == "/provider/today"
        assert (await here.get("/provider/today")).status_code == 200

        # a form sent after the end: back to the page it came from
        await login(other, "staff2", PASSWORD)
        csrf = csrf_of((await other.get("/account")).text)
        await other.post("/logout/everywhere", data={"csrf_token": csrf})
        sent = await here.post(
            "/provider/redeem",
            data={"csrf_token": "x", "token": "123"},
            headers={"Referer": "http://testserver/provider/redeem"},
        )
        assert sent.status_code == 303 and sent.headers["location"] == "/login?expired=1"
        back = await login(here, "staff2", PASSWORD)
        assert back.headers["location"] == "/provider/redeem"

        # another site named as where the person was: the home page instead
        await here.post("/logout", data={"csrf_token": csrf_of((await here.get("/account")).text)})
        here.cookies.set("yiyang_return_to", "//evil.example/x", path="/login")
        home = await login(here, "staff2", PASSWORD)
        assert home.headers["location"] == home_of("provider_staff", DISTRICT)
        # and no message for someone who simply signs in
        assert 'id="expired"' not in (await here.get("/login")).text
