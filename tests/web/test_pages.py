"""Pages against the real services (ledger, provider, voucher) in-process. Bad input shows a
clear message and changes nothing. The module shares one system, so every test reads what it
needs from the services first and asserts on the change it makes."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import re
import uuid
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
from openpyxl import load_workbook

from services.common.db import asyncpg_connect_kwargs
from tests.web.conftest import at_confirm, csrf_of, sent_back
from tests.web.system import CITY, DISTRICT, PROVINCE, enrolment, import_finished
from web import region_picker

DISABILITY, MEAL = "disability_subsidy", "meal_assistance"


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


async def fresh_code(web, bid: str) -> str:
    """A one-time code as the person's phone gets it (the page shows it only as a picture)."""
    r = await web.voucher.post(
        f"/v1/beneficiaries/{bid}/codes",
        headers=web.tokens.headers("beneficiary", sub=f"test:{bid}", beneficiary_ids=(bid,)),
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


async def _preview(web, c, amount: str, service: str = "BATH_HOME", bid: str | None = None):
    """One item on the redeem form: a quantity of 1, and `amount` as the price of BATH_HOME
    (the fixture's variable-price item; the meals are priced by the list)."""
    token = await fresh_code(web, bid or web.b1)
    form = await c.get("/provider/redeem")
    data = {"csrf_token": csrf_of(form.text), "token": token, f"qty_{service}": "1"}
    if service == "BATH_HOME":
        data["price_BATH_HOME"] = amount
    preview = await c.post("/provider/redeem", data=data, follow_redirects=True)
    return token, preview


async def _confirm(c, token: str, preview, service: str = "BATH_HOME", method: str = ""):
    """Confirm the previewed bill; `method`: how the co-payment is taken (cash, or stripe:
    the family online), none chosen by default."""
    data = {
        "csrf_token": csrf_of(preview.text),
        "token": token,
        "bill": _hidden(preview.text, "bill"),
        "gross_fen": _hidden(preview.text, "gross_fen"),
        "idempotency_key": _hidden(preview.text, "idempotency_key"),
        **({"copay_method": method} if method else {}),
    }
    # post/redirect/get: the result page has its own address (followed like a browser does)
    return data, await c.post("/provider/redeem/confirm", data=data, follow_redirects=True)


def _fen(shown: str) -> int:
    """An amount as a page writes it (1,234.50) in fen."""
    return int(shown.replace(",", "").replace(".", ""))


# --- beneficiary and proxy ---------------------------------------------------------------


async def test_home_shows_balance_and_validity(web):
    vouchers = await web.vouchers(web.b1)
    care = next(v for v in vouchers if v["program_code"] == DISABILITY)
    async with web.signed_in("laowang") as c:
        html = (await c.get("/me")).text
        assert yuan(care["balance_fen"]) in html and str(care["valid_until"])[:10] in html
        assert "可使用" in html and "失能老年人养老服务消费补贴" in html and "老年助餐" in html
        assert "面额 500.00 元" in html


async def test_proxy_switches_only_between_people_they_may_act_for(web):
    async with web.signed_in("xiaoli") as c:
        page = await c.get("/me")
        assert "面额 500.00 元" in page.text and "切换" in page.text
        # names from the service, masked (whose vouchers these are, no more)
        assert "王**" in page.text and "李**" in page.text
        assert "王大爷" not in page.text and "李奶奶" not in page.text
        # told apart as a family tells its elders apart, not by an id
        options = re.findall(r"<option value=\"([^\"]+)\"[^>]*>([^<]+)</option>", page.text)
        for bid, text in options:
            person = (
                await web.voucher.get(f"/v1/beneficiaries/{bid}", headers=web.officer())
            ).json()
            sex = {"M": "男", "F": "女"}[person["sex"]]
            assert text == f"{person['name'][0]}**，{sex}，{person['birth_on'][:4]} 年生，青秀区"
        assert len(options) == 2 and "编号尾号" not in page.text
        token = csrf_of(page.text)
        r = await c.post("/me/act-for", data={"csrf_token": token, "beneficiary_id": web.b2})
        assert r.status_code == 303
        assert "面额 800.00 元" in (await c.get("/me")).text  # in an institution
        r = await c.post("/me/act-for", data={"csrf_token": token, "beneficiary_id": web.b3})
        html = (await c.get("/me")).text
        assert "面额 800.00 元" in html and "黄爷爷" not in html  # b3 is not theirs


async def test_qr_code_is_fresh_each_time_and_its_picture_comes_inline(web):
    before = await web.count("voucher", "SELECT count(*) FROM used_nonce")
    async with web.signed_in("laowang") as c:
        page = await c.get("/me/qr")
        assert page.status_code == 200 and "/static/qr.js" in page.text
        headers = {"X-CSRF-Token": csrf_of(page.text)}
        one = (await c.post("/me/qr/code", headers=headers)).json()
        two = (await c.post("/me/qr/code", headers=headers)).json()
        assert one["image"] != two["image"] and 30 <= one["expires_in_s"] <= 300
        prefix = "data:image/svg+xml;base64,"
        assert one["image"].startswith(prefix)
        assert b"<svg" in base64.b64decode(one["image"][len(prefix) :])
        assert "token" not in one  # the token is only inside the picture
        refused = await c.post("/me/qr/code")  # no CSRF header
        assert refused.status_code == 403
    assert await web.count("voucher", "SELECT count(*) FROM used_nonce") == before


async def test_history_lists_redemptions_with_subsidy_and_copay(web):
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "61.00")
        _, done = await _confirm(c, token, preview)
        assert "收款成功" in done.text, done.text
    async with web.signed_in("laowang") as c:
        html = (await c.get("/me/history")).text
        assert "补贴 30.50 元" in html and "自付 30.50 元" in html
        assert "青秀区幸福助餐点" in html and "上门助浴" in html


async def test_nearby_lists_approved_providers_with_distance_and_prices(web):
    async with web.signed_in("laowang") as c:
        html = (await c.get("/me/nearby", params={"lat": 22.817, "lon": 108.366})).text
        assert "青秀区幸福助餐点" in html and " 米" in html
        assert '午餐：<span class="meal-time">11:00–13:00</span>，15.00 元/次' in html
        assert "仁爱" not in html  # applied, not approved
        home = (await c.get("/me/nearby")).text  # defaults to around the person's home
        assert "青秀区幸福助餐点" in home and "登记的住址" in home


# --- provider staff --------------------------------------------------------------------------


async def test_redeem_preview_confirm_and_retry_moves_money_once(web):
    before = await web.balance(web.b1, DISABILITY)
    async with web.signed_in("staff1") as c:
        form = await c.get("/provider/redeem")
        assert "午餐（15.00 元）" in form.text and "/static/vendor/jsQR.js" in form.text
        token, preview = await _preview(web, c, "20.5")
        assert at_confirm(preview) and "20.50" in preview.text and "上门助浴" in preview.text
        data, done = await _confirm(c, token, preview)
        assert data["gross_fen"] == "2050"
        assert done.status_code == 200 and "收款成功" in done.text
        assert "10.25" in done.text  # 50 % of 20.50 from the care voucher, the rest co-pay
        again = await c.post(  # double press / retry
            "/provider/redeem/confirm", data=data, follow_redirects=True
        )
        assert again.status_code == 200 and "10.25" in again.text
    assert await web.balance(web.b1, DISABILITY) == before - 1025
    assert await web.count("voucher", "SELECT count(*) FROM redemption WHERE gross_fen = 2050") == 1


async def test_a_meal_uses_the_meal_voucher_first(web):
    before = await web.balance(web.b2, MEAL)
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "15", service="MEAL_LUNCH", bid=web.b2)
        _, done = await _confirm(c, token, preview, service="MEAL_LUNCH")
        assert "收款成功" in done.text and "5.00" in done.text and "10.00" in done.text
    assert await web.balance(web.b2, MEAL) == before - 500


async def test_the_cashier_bills_items_from_the_price_list(web):
    """Lunch and porridge, one each: the confirm page shows the lines and their total (no
    amount was typed), the redemption stores them; a quantity the list does not allow, or a
    bill whose price list changed after it was shown, pays nothing."""
    before = await web.balance(web.b3, MEAL)
    async with web.signed_in("staff1") as c:
        form = await c.get("/provider/redeem")
        assert 'id="bill-total"' in form.text and "/static/bill.js" in form.text
        assert 'id="token" name="token" inputmode="numeric"' in form.text  # the digits' pad
        token = await fresh_code(web, web.b3)
        too_many = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={"csrf_token": csrf_of(form.text), "token": token, "qty_MEAL_LUNCH": "2"},
        )
        assert sent_back(too_many) and "每次只能收 1" in too_many.text
        # (one message beside the field; nothing else of the form's problems leaks in, such
        # as the dict's own `items` method where no problem is about the bill as a whole)
        assert "built-in method" not in too_many.text and "到 1 之间" not in too_many.text
        preview = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={
                "csrf_token": csrf_of(form.text),
                "token": token,
                "qty_MEAL_LUNCH": "1",
                "qty_MEAL_PORRIDGE": "1",
            },
        )
        assert at_confirm(preview), preview.text
        assert 'id="bill-gross">19.00<' in preview.text
        assert "午餐" in preview.text and "粥" in preview.text
        # each line whole on a phone: its name, then price × quantity = amount
        lines = preview.text[preview.text.index('id="bill-lines"') :].split("</ul>")[0]
        assert lines.count("<li>") == 2 and "× 1" in lines and "<table" not in lines
        assert _hidden(preview.text, "bill") == "MEAL_LUNCH*1;MEAL_PORRIDGE*1"
        # A total that is not the list's (a price changed after the page was shown).
        data, stale = await _confirm(c, token, preview)
        stale = await c.post(
            "/provider/redeem/confirm",
            data={**data, "gross_fen": "1800"},
            follow_redirects=True,
        )
        assert sent_back(stale) and "价目表" in stale.text
        # the bill as it was, to correct and send again; the phone's code is scanned again
        assert re.search(r'name="qty_MEAL_LUNCH"[^>]*value="1"', stale.text)
        assert re.search(r'id="token"[^>]*value=""', stale.text) or token not in stale.text
        data, done = await _confirm(c, token, preview)
        assert "收款成功" in done.text and 'id="subsidy">5.00<' in done.text
        # the day's list names the sale by every line of its bill, not the first alone
        today = (await c.get("/provider/today")).text
        assert "<strong>午餐、粥</strong>" in today
    r = await web.voucher.get(f"/v1/beneficiaries/{web.b3}/redemptions", headers=web.officer())
    assert r.json()[0]["items"] == [
        {"service_code": "MEAL_LUNCH", "quantity": 1},
        {"service_code": "MEAL_PORRIDGE", "quantity": 1},
    ]
    assert await web.balance(web.b3, MEAL) == before - 500
    lines = await web.count(
        "voucher",
        "SELECT count(*) FROM redemption_item i JOIN redemption r ON r.id = i.redemption_id"
        " WHERE r.gross_fen = 1900 AND i.service_code IN ('MEAL_LUNCH', 'MEAL_PORRIDGE')",
    )
    assert lines == 2


async def test_preview_shows_subsidy_and_copay_before_confirming(web):
    before = await web.balance(web.b1, DISABILITY)
    nonces = await web.count("voucher", "SELECT count(*) FROM used_nonce")
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "20")
        assert 'id="preview-subsidy">10.00<' in preview.text  # 50 % from the care voucher
        assert 'id="preview-copay">10.00<' in preview.text
        assert "确认后立即显示" not in preview.text
        _, meal = await _preview(web, c, "4", service="MEAL_PORRIDGE", bid=web.b2)
        # under the 5-yuan subsidy: said with its figure, and what the cashier can do
        assert sent_back(meal) and "消费金额要超过 5.00 元才能用" in meal.text
        assert "（从“失能补贴”补贴券扣）" in preview.text  # which of the person's vouchers
        # The previewed code is still good: confirming it gives what the preview said.
        _, done = await _confirm(c, token, preview)
        assert "收款成功" in done.text and 'id="subsidy">10.00<' in done.text
    left = await web.balance(web.b1, DISABILITY)
    assert left == before - 1000  # only the confirmation
    # the result says what is left on that voucher, to tell the person
    assert (
        f"“失能补贴”补贴券还剩：<strong>{left // 100:,}.{left % 100:02d}</strong> 元" in done.text
    )
    assert await web.count("voucher", "SELECT count(*) FROM used_nonce") == nonces + 1


async def test_racing_confirm_presses_redeem_once(web):
    """The confirm button pressed five times at once (same form, same key): one redemption,
    and every answer that succeeds shows the same subsidy."""
    before = await web.balance(web.b1, DISABILITY)
    count = await web.count("voucher", "SELECT count(*) FROM redemption")
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "33")
        data = {
            "csrf_token": csrf_of(preview.text),
            "token": token,
            "bill": "BATH_HOME*1@3300",
            "gross_fen": "3300",
            "idempotency_key": _hidden(preview.text, "idempotency_key"),
        }
        answers = await asyncio.gather(
            *(c.post("/provider/redeem/confirm", data=data) for _ in range(5))
        )
        ok = [r for r in answers if r.status_code == 303]  # to the one result page
        assert ok and len({r.headers["location"] for r in ok}) == 1
        assert all(r.status_code in (303, 409) for r in answers)
        shown = await c.get(ok[0].headers["location"])
        assert 'id="subsidy">16.50<' in shown.text
    assert await web.balance(web.b1, DISABILITY) == before - 1650
    assert await web.count("voucher", "SELECT count(*) FROM redemption") == count + 1


async def test_redeem_refuses_bad_input_and_a_used_code(web):
    before = await web.balance(web.b1, DISABILITY)
    async with web.signed_in("staff1") as c:
        for amount in ("", "abc", "0", "-3", "1.234", "99999999"):
            _, preview = await _preview(web, c, amount)
            assert sent_back(preview) and "请输入正确的金额" in preview.text
        _, preview = await _preview(web, c, "10", service="NOT_A_SERVICE")
        assert sent_back(preview) and "请选择服务项目" in preview.text
        assert await web.balance(web.b1, DISABILITY) == before
        token, preview = await _preview(web, c, "10")
        data, done = await _confirm(c, token, preview)
        assert "收款成功" in done.text
        replay = await c.post(
            "/provider/redeem/confirm",
            data={**data, "idempotency_key": str(uuid.uuid4())},
            follow_redirects=True,
        )
        assert sent_back(replay) and "已经用过" in replay.text
        bad_key = await c.post("/provider/redeem/confirm", data={**data, "idempotency_key": "x"})
        assert bad_key.status_code == 422
        forged = await c.post(
            "/provider/redeem/confirm",
            data={
                **data,
                "token": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
                "idempotency_key": str(uuid.uuid4()),
            },
            follow_redirects=True,
        )
        assert sent_back(forged) and "二维码无效" in forged.text
    assert await web.balance(web.b1, DISABILITY) == before - 500


async def test_today_lists_summarises_and_voids_once(web):
    async with web.signed_in("staff1") as c:
        start = await c.get("/provider/today")
        count = int(re.search(r"共 <strong>(\d+)</strong> 笔", start.text).group(1))
        for amount in ("15", "10"):
            token, preview = await _preview(web, c, amount)
            await _confirm(c, token, preview)
        page = await c.get("/provider/today")
        assert f"共 <strong>{count + 2}</strong> 笔" in page.text and "上门助浴" in page.text
        # the newest first: the sale just made (10 元) is the first row
        rid = re.findall(r"/provider/redemptions/([\w-]+)/void", page.text)[0]
        first = page.text[page.text.index("今日汇总") :].split("</section>")[1]
        assert "消费 10.00 元" in first and rid in first
        token = csrf_of(page.text)
        r = await c.post(
            f"/provider/redemptions/{rid}/void", data={"csrf_token": token, "reason": ""}
        )
        assert "请填写撤销原因" in (await c.get("/provider/today")).text
        balance = await web.balance(web.b1, DISABILITY)
        r = await c.post(
            f"/provider/redemptions/{rid}/void", data={"csrf_token": token, "reason": "录错金额"}
        )
        assert r.status_code == 303
        after = (await c.get("/provider/today")).text
        assert "已撤销，补贴已退回" in after and f"共 <strong>{count + 1}</strong> 笔" in after
        # each sale tells itself apart by its transaction's tail; a voided one says why
        assert f"交易尾号 {rid[-8:]}" in after and "已撤销：录错金额" in after
        assert await web.balance(web.b1, DISABILITY) > balance
        again = await web.balance(web.b1, DISABILITY)
        await c.post(
            f"/provider/redemptions/{rid}/void", data={"csrf_token": token, "reason": "再撤一次"}
        )
        assert await web.balance(web.b1, DISABILITY) == again  # voids once

        # a sale whose co-payment was taken in cash: counted in the till, and its void says
        # to hand the cash back
        before = await c.get("/provider/today")
        till = _fen(re.search(r"现金应收 <strong>([\d,.]+)</strong>", before.text).group(1))
        token, preview = await _preview(web, c, "12")
        _, done = await _confirm(c, token, preview, method="cash")
        assert "收款成功" in done.text
        shown = await c.get("/provider/today")
        copay = _fen(re.search(r'id="copay">([\d,.]+)<', done.text).group(1))
        assert copay > 0
        assert f"现金应收 <strong>{yuan(till + copay)}</strong>" in shown.text
        assert "（现金）" in shown.text
        cash_rid = re.findall(r"/provider/redemptions/([\w-]+)/void", shown.text)[0]
        await c.post(
            f"/provider/redemptions/{cash_rid}/void",
            data={"csrf_token": csrf_of(shown.text), "reason": "老人不要了"},
        )
        told = (await c.get("/provider/today")).text
        assert f"请把老人自付的 {yuan(copay)} 元现金退还给老人" in told
        assert f"现金应收 <strong>{yuan(till)}</strong>" in told
        receipt = (await c.get(f"/provider/receipts/{cash_rid}")).text
        assert "已撤销，无需确认" in receipt and "已过确认期限" not in receipt
        assert f"老人自付的 {yuan(copay)} 元应退还老人" in receipt
    async with web.signed_in("laowang") as c:
        assert (
            await c.post(
                f"/provider/redemptions/{rid}/void", data={"csrf_token": "x", "reason": "y"}
            )
        ).status_code == 403


async def test_provider_admin_sees_price_list_and_issues_a_terminal_secret_once(web):
    async with web.signed_in("admin1") as c:
        page = await c.get("/provider/admin")
        assert "青秀区幸福助餐点" in page.text and "助餐点" in page.text
        assert "15.00 元" in page.text and "前台收银终端" in page.text
        token = csrf_of(page.text)
        bad = await c.post("/provider/admin/terminals", data={"csrf_token": token, "name": " "})
        assert bad.status_code == 422 and "请填写终端名称" in bad.text
        terminals = await web.count("provider", "SELECT count(*) FROM terminal")
        form = {
            "csrf_token": token,
            "name": "前台一号机",
            "request_key": re.search(r'name="request_key" value="([0-9a-f-]{36})"', page.text)[1],
        }
        # pressed twice before the first answer came: the browser shows the second answer,
        # which is the first terminal and its secret, and one terminal is issued
        first, r = await asyncio.gather(
            c.post("/provider/admin/terminals", data=form),
            c.post("/provider/admin/terminals", data=form),
        )
        assert first.headers["location"] == r.headers["location"]
        # post/redirect/get: the secret is shown on a page of its own, once
        assert r.status_code == 303
        shown = await c.get(r.headers["location"])
        secret = re.search(r'id="secret">(yyt_[^<]+)<', shown.text).group(1)
        assert await web.count("provider", "SELECT count(*) FROM terminal") == terminals + 1
        # the secret shown is the terminal's (its hash is what the provider service keeps)
        kept = "SELECT secret_sha256 FROM terminal WHERE name = '前台一号机'"
        assert await web.count("provider", kept) == hashlib.sha256(secret.encode()).hexdigest()
        reloaded = await c.get(r.headers["location"])  # a reload: not shown, nothing issued
        assert reloaded.status_code == 410 and secret not in reloaded.text
        assert "只显示一次" in reloaded.text
        again = await c.get("/provider/admin")
        assert "前台一号机" in again.text and secret not in again.text
        assert await web.count("provider", "SELECT count(*) FROM terminal") == terminals + 1
        # a lost device is stopped from the page: once sure, and once only
        tid = re.search(r'data-terminal="([0-9a-f-]{36})"><p>前台一号机', again.text).group(1)
        stop = f"/provider/admin/terminals/{tid}/revoke"
        token = csrf_of(again.text)
        assert (await c.post(stop, data={"csrf_token": token})).status_code == 303
        assert "请先勾选" in (await c.get("/provider/admin")).text
        status = f"SELECT status FROM terminal WHERE id = '{tid}'"
        assert await web.count("provider", status) == "active"
        await c.post(stop, data={"csrf_token": token, "sure": "1"})
        assert "已停用终端“前台一号机”" in (await c.get("/provider/admin")).text
        assert await web.count("provider", status) == "revoked"
        await c.post(stop, data={"csrf_token": token, "sure": "1"})  # Back and again
        assert "已经停用了" in (await c.get("/provider/admin")).text
    async with web.signed_in("staff1") as c:
        assert (await c.get("/provider/admin")).status_code == 403
        csrf = csrf_of((await c.get("/provider/redeem")).text)
        r = await c.post(stop, data={"csrf_token": csrf, "sure": "1"})
        assert r.status_code == 403


async def test_staff_without_a_terminal_cannot_redeem(web):
    before = await web.balance(web.b1, DISABILITY)
    async with web.signed_in("staff2") as c:
        form = await c.get("/provider/redeem")
        assert "没有绑定收款终端" in form.text
        # no bill to fill that could never be taken; who to ask is said
        assert 'id="redeem-form"' not in form.text and "账号管理员" in form.text
        r = await c.post(
            "/provider/redeem/confirm",
            data={
                "csrf_token": csrf_of(form.text),
                "token": await fresh_code(web, web.b1),
                "bill": "BATH_HOME*1@1000",
                "gross_fen": "1000",
                "idempotency_key": str(uuid.uuid4()),
            },
        )
        assert r.status_code == 409
    assert await web.balance(web.b1, DISABILITY) == before


# --- civil-affairs officer -----------------------------------------------------------------


def _enrol_form(serial: int) -> dict[str, str]:
    body = enrolment("黄奶奶", serial)
    scores = body["assessment"]["scores"]
    return {
        "national_id": body["national_id"],
        "name": "黄奶奶",
        "phone": body["phone"],
        "region_code": DISTRICT,
        "address": "青秀区民族大道1号",
        "lat": "22.81",
        "lon": "108.37",
        "care_setting": "home",
        **{k: str(v) for k, v in scores.items()},
        "assessed_on": body["assessment"]["assessed_on"],
        "assessor": "南宁市评估中心",
    }


async def test_enrol_shows_grade_and_masks_the_national_id(web):
    form_data = _enrol_form(901)
    nid = form_data["national_id"]
    async with web.signed_in("officer") as c:
        form = await c.get("/officer/enrol")
        assert "特困人员" in form.text and "户籍地行政区划代码" in form.text
        r = await c.post(
            "/officer/enrol",
            data={
                **form_data,
                "csrf_token": csrf_of(form.text),
                "tekun": "on",
                "hukou_region_code": "450203",
            },
        )
        # post/redirect/get: the person's own page says it, once; a reload enrols nobody
        assert r.status_code == 303 and r.headers["location"].startswith("/officer/people/")
        person_url = r.headers["location"]
        r = await c.get(person_url)
        assert "登记成功：黄奶奶" in r.text and "3 级" in r.text, r.text
        assert nid not in r.text and f"{nid[:4]}**********{nid[-4:]}" in r.text
        assert "失能老年人养老服务消费补贴" in r.text  # what the person may have, by name
        assert "登记成功" not in (await c.get(person_url)).text
    found = await web.voucher.post(
        "/v1/beneficiaries/lookup", headers=web.officer(), json={"national_id": nid}
    )
    assert found.status_code == 200 and found.json()["grade"] == 3
    assert (found.json()["tekun"], found.json()["hukou_region_code"]) == (True, "450203")
    assert {v["program_code"] for v in await web.vouchers(found.json()["id"])} == {
        DISABILITY,
        MEAL,
    }  # this month's vouchers issued on enrolment
    # no device position was taken: the home is the region's centre, marked approximate
    person = (
        await web.voucher.get(f"/v1/beneficiaries/{found.json()['id']}", headers=web.officer())
    ).json()
    assert person["location_approximate"] is True
    assert (person["lat"], person["lon"]) == region_picker.centre(DISTRICT)
    assert "近似位置" in r.text


async def test_enrol_with_the_device_position_is_exact(web):
    form_data = {**_enrol_form(905), "location_source": "device", "lat": "22.8123", "lon": "108.41"}
    async with web.signed_in("officer") as c:
        form = await c.get("/officer/enrol")
        assert 'id="use-position"' in form.text and 'name="region_code"' in form.text
        assert "青秀区" in form.text and "柳州市" not in form.text  # the officer's own regions
        r = await c.post(
            "/officer/enrol",
            data={**form_data, "csrf_token": csrf_of(form.text)},
            follow_redirects=True,
        )
        assert r.status_code == 200 and "登记时本机定位" in r.text, r.text
    found = await web.voucher.post(
        "/v1/beneficiaries/lookup",
        headers=web.officer(),
        json={"national_id": form_data["national_id"]},
    )
    person = (
        await web.voucher.get(f"/v1/beneficiaries/{found.json()['id']}", headers=web.officer())
    ).json()
    assert (person["lat"], person["lon"], person["location_approximate"]) == (
        22.8123,
        108.41,
        False,
    )


async def test_enrol_bad_input_is_explained_and_nothing_is_sent(web):
    people = await web.count("voucher", "SELECT count(*) FROM beneficiary")
    form_data = _enrol_form(902)
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/enrol")).text)
        r = await c.post(
            "/officer/enrol",
            data={
                **form_data,
                "csrf_token": token,
                "lat": "north",
                "location_source": "device",
                "name": "",
                "region_code": "45",
            },
        )
        assert r.status_code == 422 and "没有取得有效的位置" in r.text
        assert "这一项必须填写" in r.text
        assert "请从列表中选择" in r.text and form_data["national_id"] not in r.text
        r = await c.post(
            "/officer/enrol", data={**form_data, "csrf_token": token, "national_id": "123"}
        )
        assert r.status_code == 422 and "身份证号码不正确" in r.text
        # the choices made stay made; the cleared ID and phone are explained
        r = await c.post(
            "/officer/enrol",
            data={
                **form_data,
                "csrf_token": token,
                "national_id": "123",
                "care_setting": "institution",
                "dibao": "on",
                "dementia": "on",
            },
        )
        assert r.status_code == 422 and '<option value="institution" selected>' in r.text
        assert '<input type="checkbox" name="dibao" checked>' in r.text
        assert '<input type="checkbox" name="dementia" checked>' in r.text
        assert '<input type="checkbox" name="tekun">' in r.text
        assert "身份证号码和手机号码请重新填写" in r.text
        # a score the service refuses is said beside its own field, not only at the top
        r = await c.post("/officer/enrol", data={**form_data, "csrf_token": token, "motor": "20"})
        assert r.status_code == 422, r.text
        after_motor = r.text.split('id="motor"', 1)[1].split("<label", 1)[0]
        assert 'class="field-err"' in after_motor, after_motor
        assert "基础运动能力得分（0–15）" in r.text
        r = await c.post(
            "/officer/enrol", data={**form_data, "csrf_token": token, "region_code": "450200"}
        )
        assert r.status_code == 422 and "您负责范围内的区县或街道" in r.text
    assert await web.count("voucher", "SELECT count(*) FROM beneficiary") == people


async def test_import_shows_every_rows_result(web):
    good = enrolment("甲", 903)
    header = (
        "national_id,name,phone,region_code,address,lat,lon,care_setting,dibao,"
        "self_care,motor,mental,perception_social,assessed_on,assessor"
    )
    when = good["assessment"]["assessed_on"]
    csv = (
        f"{header}\n"
        f"{good['national_id']},甲,13877100903,{DISTRICT},青秀区一路1号,22.81,108.37,home,"
        f"false,15,8,10,7,{when},评估中心\n"
        f"bad,乙,13877100904,{DISTRICT},青秀区一路2号,22.81,108.37,home,false,15,8,10,7,"
        f"{when},评估中心\n"
    )
    people = await web.count("voucher", "SELECT count(*) FROM beneficiary")
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/import")).text)
        r = await c.post(
            "/officer/import",
            data={"csrf_token": token},
            files={"file": ("people.csv", csv.encode(), "text/csv")},
        )
        r = await import_finished(c, r)  # in the background; its page shows how it ended
        assert r.status_code == 200 and "共 2 行" in r.text, r.text
        assert r.text.count("row-err") == 1 and "身份证号码不正确" in r.text
        r = await c.post(
            "/officer/import",
            data={"csrf_token": token},
            files={"file": ("people.exe", b"MZ", "application/octet-stream")},
        )
        assert r.status_code == 422 and "CSV 或 Excel" in r.text
    assert await web.count("voucher", "SELECT count(*) FROM beneficiary") == people + 1


async def test_officer_approves_in_scope_and_is_refused_outside(web):
    async with web.signed_in("officer") as c:
        # the page opens on the applications waiting, each tab with its count
        first = await c.get("/officer/providers")
        assert 'aria-current="page">待审批（' in first.text and "全部（" in first.text
        assert 'data-status="approved"' not in first.text and "仁爱" in first.text
        assert "还没有上传证照：请先核验" in first.text  # the demo's application has none yet
        everyone = await c.get("/officer/providers", params={"status": "all"})
        assert 'data-status="approved"' in everyone.text
        page = await c.get("/officer/providers", params={"status": "applied"})
        assert "仁爱" in page.text and "柳州" not in page.text  # outside 450103
        token = csrf_of(page.text)
        r = await c.post(
            f"/officer/providers/{web.p_new}/approve", data={"csrf_token": token, "reason": ""}
        )
        assert r.status_code == 422 and await web.provider_status(web.p_new) == "applied"
        r = await c.post(
            f"/officer/providers/{web.p_new}/approve",
            data={"csrf_token": token, "reason": "材料齐全"},
        )
        assert r.status_code == 303 and await web.provider_status(web.p_new) == "approved"
        said = (await c.get("/officer/providers")).text
        assert re.search(r"仁爱[^<]*：已批准", said), said  # named, not just 已批准
        await c.post(
            f"/officer/providers/{web.p_far}/approve", data={"csrf_token": token, "reason": "越权"}
        )
        msg = (await c.get("/officer/providers")).text
        assert "不在您负责的范围内" in msg or "没有找到" in msg
        assert await web.provider_status(web.p_far) == "applied"
        await c.post(
            f"/officer/providers/{web.p_new}/approve",
            data={"csrf_token": token, "reason": "再批一次"},
        )
        assert "当前状态下不能" in (await c.get("/officer/providers")).text


async def test_issuance_is_checked_with_its_figures_before_anything_is_issued(web):
    """The form leads to a check (人数, 金额, 预算, who has theirs already) that writes
    nothing; its figures are the voucher service's preview; 返回修改 brings the choice back;
    bad input is said in words; only an officer may look."""
    period = (await web.vouchers(web.b1))[0]["period"]
    choice = {"program_code": DISABILITY, "period": period, "region_code": DISTRICT}
    api = await web.voucher.get(
        "/v1/issuance-preview", params=choice, headers=web.officer(DISTRICT)
    )
    assert api.status_code == 200, api.text
    expected = api.json()
    vouchers = await web.count("voucher", "SELECT count(*) FROM voucher")
    runs = await web.count("voucher", "SELECT count(*) FROM issuance_run")
    async with web.signed_in("officer") as c:
        form = (await c.get("/officer/issuance")).text
        assert 'action="/officer/issuance/check"' in form and "下一步：核对人数和金额" in form
        check = await c.get("/officer/issuance/check", params=choice)
        assert check.status_code == 200
        html = check.text
        assert "失能老年人养老服务消费补贴" in html and "青秀区" in html and period in html
        assert f'id="already">{expected["already_issued"]} 人<' in html
        assert f'id="eligible">{expected["eligible"]} 人<' in html
        if expected["to_issue"]:
            assert f'id="to-issue">{expected["to_issue"]}<' in html
        else:
            assert 'id="nothing-to-issue"' in html
        budget = expected["budget_available_fen"]
        assert f"{budget // 100:,}.{budget % 100:02d} 元" in html
        assert 'id="confirm-issuance"' in html and csrf_of(html)
        assert DISABILITY not in re.sub(r'value="[^"]*"|href="[^"]*"', "", html)  # no codes
        back = re.search(r'href="([^"]+)" id="back-to-form"', html).group(1).replace("&amp;", "&")
        again = (await c.get(back)).text
        assert f'value="{period}"' in again
        assert re.search(rf'<option value="{DISABILITY}"\s+selected', again)
        bad = await c.get("/officer/issuance/check", params={**choice, "period": "2026-13"})
        assert bad.status_code == 422 and "月份请按 年-月 填写" in bad.text
        far = await c.get("/officer/issuance/check", params={**choice, "region_code": "450203"})
        assert far.status_code == 403 and "不在您负责的范围" in far.text
    assert await web.count("voucher", "SELECT count(*) FROM voucher") == vouchers
    assert await web.count("voucher", "SELECT count(*) FROM issuance_run") == runs
    for who in ("finance", "staff1", "laowang"):
        async with web.signed_in(who) as c:
            r = await c.get("/officer/issuance/check", params=choice)
            assert r.status_code in (403, 404), who


async def test_issuance_run_shows_counts_and_rerun_issues_nothing(web):
    vouchers = await web.count("voucher", "SELECT count(*) FROM voucher")
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/issuance")).text)
        period = (await web.vouchers(web.b1))[0]["period"]
        body = {
            "csrf_token": token,
            "program_code": DISABILITY,
            "period": period,
            "region_code": DISTRICT,
        }
        first = await c.post("/officer/issuance", data=body)  # then the run's own page
        assert first.status_code == 303, first.text
        run_id = re.fullmatch(r"/officer/issuance/([\w-]+)", first.headers["location"]).group(1)
        shown = await c.get(first.headers["location"])
        assert "已发放 0 张" in shown.text and "已处理" in shown.text
        r = await c.post("/officer/issuance", data={**body, "period": "2026-13"})
        this_month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        assert r.status_code == 422 and f"例如 {this_month}" in r.text
        # the form comes back as the officer left it: the programme, the month, the region
        assert re.search(rf'<option value="{DISABILITY}" selected>', r.text)
        assert 'id="period" name="period" inputmode="numeric" value="2026-13"' in r.text
        assert re.search(rf'<option value="{DISTRICT}"[^>]* selected>', r.text)
        fresh = await c.get("/officer/issuance")  # a new form: this month, no code to type
        assert f'value="{this_month}"' in fresh.text and "行政区划代码" not in fresh.text
        # left and come back to: the issuance page lists it with its progress
        again = await c.get("/officer/issuance")
        assert f'data-run="{run_id}"' in again.text and "最近的发放" in again.text
        done = await c.get(f"/officer/issuance/{run_id}")
        assert "已完成" in done.text and "refresh.js" not in done.text
        assert "没有找到" in (await c.get(f"/officer/issuance/{uuid.uuid4()}")).text
        # A run still going (as a run cut short and resumed shows): the page refreshes.
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(web.dbs["voucher"].owner_url))
        status = await conn.fetchval(
            "SELECT status FROM issuance_run WHERE id = $1", uuid.UUID(run_id)
        )
        try:
            await conn.execute(
                "UPDATE issuance_run SET status = 'running' WHERE id = $1", uuid.UUID(run_id)
            )
            live = await c.get(f"/officer/issuance/{run_id}")
            assert "正在发放" in live.text and "refresh.js" in live.text
        finally:
            await conn.execute(
                "UPDATE issuance_run SET status = $2 WHERE id = $1", uuid.UUID(run_id), status
            )
            await conn.close()
    # Everyone in the district already had this month's vouchers from enrolment.
    assert await web.count("voucher", "SELECT count(*) FROM voucher") == vouchers


async def test_the_issuance_page_shows_scheduled_runs_and_warns_loudly_of_failures(web):
    period = (await web.vouchers(web.b1))[0]["period"]
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(web.dbs["voucher"].owner_url))
    try:
        await conn.execute(
            "INSERT INTO scheduled_issuance (id, program_code, period, region_code, status,"
            " attempts, last_error, next_attempt_at) VALUES"
            " (gen_random_uuid(), 'meal_assistance', $1, '450000', 'failed', 2,"
            "  'LEDGER_UNAVAILABLE', now() + interval '10 minutes'),"
            " (gen_random_uuid(), 'nursing_subsidy', $1, '450000', 'budget_exhausted', 1,"
            "  NULL, NULL),"
            " (gen_random_uuid(), 'disability_subsidy', $1, '450200', 'failed', 5,"
            "  'LEDGER_REFUSED', NULL)",
            period,
        )
    finally:
        await conn.close()
    async with web.signed_in("officer") as c:
        r = await c.get("/officer/issuance")
    assert r.status_code == 200
    alerts = re.findall(r'<p class="msg msg-err" role="alert">(.*?)</p>', r.text, re.S)
    assert len(alerts) == 2, alerts  # Liuzhou's failure is not this officer's
    assert "老年助餐" in alerts[0] and "自动发放失败" in alerts[0] and "自动重试" in alerts[0]
    assert "系统暂时忙" in alerts[0]  # the code, in words
    assert "护理补贴" in alerts[1] and "预算不足" in alerts[1]
    assert "LEDGER_UNAVAILABLE" not in r.text and "450000" not in r.text
    assert "自动发放" in r.text


async def test_an_officer_previews_then_publishes_a_programme_of_their_district(web):
    programmes = await web.count("voucher", "SELECT count(*) FROM program")
    async with web.signed_in("officer") as c:
        form = await c.get("/officer/programs/new")
        assert form.status_code == 200 and "新增补贴项目" in form.text
        body = {
            "csrf_token": csrf_of(form.text),
            "name": "家庭养老床位",
            "code": "family_bed_qx",
            "kind": "voucher",
            "region_code": DISTRICT,
            "min_age": "60",
            "grades": ["2", "3", "4"],
            "care_settings": ["home", "institution"],
            "face": "300",
            "ratio": "80",
            "categories": ["home_care_hours"],
            "rule": "",
            "reason": "",
        }
        preview = await c.post("/officer/programs/new", data={**body, "action": "preview"})
        assert preview.status_code == 200, preview.text
        # the active, assessed people of the district at home or in an institution, 300 each
        people = await web.count(
            "voucher",
            "SELECT count(*) FROM beneficiary WHERE region_code LIKE '450103%'"
            " AND status = 'active' AND grade BETWEEN 2 AND 4 AND grade_valid_until >= now()"
            " AND care_setting IN ('home', 'institution')",
        )
        assert people >= 2
        assert f"符合条件 {people} 人，每月最多 {people * 300:,}.00 元" in preview.text
        bad = await c.post(
            "/officer/programs/new",
            data={**body, "code": "家庭", "rule": "{all", "action": "preview"},
        )
        assert bad.status_code == 422
        assert "项目代码用小写英文字母" in bad.text and "附加条件的格式不对" in bad.text
        # a service package: the home visits a month are asked for, then it previews
        package = {**body, "kind": "service_package", "action": "preview"}
        asked = await c.post("/officer/programs/new", data=package)
        assert asked.status_code == 422 and "上门服务包请填写每月上门次数" in asked.text
        package["visits"] = "8"
        counted = await c.post("/officer/programs/new", data=package)
        assert counted.status_code == 200 and f"符合条件 {people} 人" in counted.text
        no_reason = await c.post("/officer/programs/new", data={**body, "action": "publish"})
        assert no_reason.status_code == 422 and "请填写发布依据" in no_reason.text
        assert await web.count("voucher", "SELECT count(*) FROM program") == programmes
        done = await c.post(
            "/officer/programs/new",
            data={**body, "reason": "青秀区民政局文件", "action": "publish"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/officer/programs"
        listing = await c.get("/officer/programs")
        assert "已发布：家庭养老床位" in listing.text and "青秀区" in listing.text
        assert "每月补贴券" in listing.text and "family_bed_qx" not in listing.text
        again = await c.post(
            "/officer/programs/new",
            data={**body, "reason": "再发一次", "action": "publish"},
        )
        assert again.status_code == 409
    assert await web.count("voucher", "SELECT count(*) FROM program") == programmes + 1


async def test_the_dashboard_reads_in_scope_draws_charts_and_exports_its_tables(web):
    people = await web.count(
        "voucher",
        "SELECT count(*) FROM beneficiary WHERE status = 'active' AND region_code LIKE '450103%'",
    )
    async with web.signed_in("officer") as c:
        r = await c.get("/dashboard")
        assert r.status_code == 200, r.text
        assert f"在册老人 {people} 人" in r.text and "青秀区" in r.text
        # enrolment (2), issuance and use, trend, budget, care circle, providers
        assert r.text.count('<svg xmlns="http://www.w3.org/2000/svg"') == 7
        assert "disability_subsidy" not in r.text  # programmes by name
        assert "15分钟养老服务圈" in r.text and "预算执行" in r.text
        # the budget chart has 已承诺 beside 下达, 支出 and 可用, so its bars add up
        assert "预算执行（下达、已承诺、支出、可用）" in r.text and "已承诺" in r.text
        # the budget table is the ledger's: what is available equals its accounts directly
        available = await web.count(
            "ledger",
            "SELECT -coalesce(sum(balance_fen), 0) FROM account"
            " WHERE code = '3001' AND region_code LIKE '450103%'",
        )
        budget = await c.get("/dashboard/export.csv", params={"table": "budget"})
        import csv as csv_module
        import io

        head, *rows = list(csv_module.reader(io.StringIO(budget.content.decode("utf-8-sig"))))
        assert head[:3] == ["补贴项目", "资金来源", "下达（元）"] and head[-1] == "可用（元）"
        shown = sum(Decimal(row[-1]) for row in rows)  # numbers a spreadsheet can sum
        assert rows and shown * 100 == available
        x = await c.get("/dashboard/export.xlsx", params={"table": "budget"})
        sheet = load_workbook(io.BytesIO(x.content)).active
        cells = [row[-1] for row in sheet.iter_rows(min_row=2)]
        assert sum(Decimal(str(cell.value)) for cell in cells) * 100 == available
        assert all(cell.number_format == "#,##0.00" for cell in cells)
        page = (await c.get("/dashboard")).text  # the page shows 元 with thousands separated
        assert all(f"<dd>{Decimal(row[-1]):,.2f}</dd>" in page for row in rows)
        for table in ("providers", "circle"):
            got = await c.get("/dashboard/export.xlsx", params={"table": table})
            assert got.status_code == 200 and got.content[:2] == b"PK"
        csv = await c.get("/dashboard/export.csv", params={"table": "programs"})
        assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
        assert "补贴项目,发放张数" in csv.content.decode("utf-8-sig")
        xlsx = await c.get("/dashboard/export.xlsx", params={"table": "subregions"})
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
        assert (await c.get("/dashboard/export.pdf")).status_code == 404
        # another region: refused by the voucher service, said in words
        far = await c.get("/dashboard", params={"region_code": "450200"})
        assert far.status_code == 403 and "不在您负责的范围内" in far.text
    async with web.signed_in("staff1") as c:
        assert (await c.get("/dashboard")).status_code in (403, 404)


# --- finance and auditor, against the real ledger -------------------------------------------


async def test_auditor_sees_the_redemption_in_the_ledger_and_exports_csv(web):
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "30")
        await _confirm(c, token, preview)
    await web.relay()
    async with web.signed_in("auditor") as c:
        html = (await c.get("/audit/entries")).text
        assert 'class="card entry"' in html and "补贴核销" in html and "预算下达" in html
        one = await c.get("/audit/entries", params={"provider_id": web.p1})
        assert one.text.count('class="card entry"') >= 1 and "15.00" in one.text
        csv = await c.get("/audit/entries.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].lstrip("\ufeff").startswith("序号,分账簿,类型") and len(lines) > 8
        bad = await c.get("/audit/entries", params={"period": "2026-13"})
        assert "填写的内容有误" in bad.text
        bad = await c.get("/audit/entries", params={"account": "<script>"})
        assert "格式不对" in bad.text and "<script>" not in bad.text


async def test_trial_balance_at_a_date_is_balanced(web):
    async with web.signed_in("auditor") as c:
        now = await c.get("/audit/trial-balance")
        assert "借贷平衡" in now.text and "国库资金" in now.text
        assert "流通中补贴券" in now.text
        before = await c.get("/audit/trial-balance", params={"as_of": "2020-01-01"})
        assert "借贷平衡" in before.text
        csv = await c.get("/audit/trial-balance.csv")
        assert csv.status_code == 200 and ",合计," in csv.text
        bad = await c.get("/audit/trial-balance", params={"as_of": "yesterday"})
        assert "日期格式" in bad.text
    async with web.signed_in("finance") as c:
        assert "借贷平衡" in (await c.get("/finance")).text


async def test_finance_budget_chart_and_reconciliation(web):
    async with web.signed_in("finance") as c:
        html = (await c.get("/finance/budget", params={"region_code": DISTRICT})).text
        assert "<svg" in html and "失能补贴" in html

        # the city counts its districts' budgets too, as the dashboard does: what the
        # district's vouchers committed shows at the city, never 0.00
        async def committed(region: str) -> int:
            r = await web.ledger.get(
                "/v1/budget/execution",
                params={"region_code": region},
                headers=web.tokens.headers("finance", region=PROVINCE),
            )
            assert r.status_code == 200, r.text
            return sum(
                x["committed_fen"] for x in r.json()["lines"] if x["program_code"] == DISABILITY
            )

        assert await committed(CITY) >= await committed(DISTRICT) > 0
        city = (await c.get("/finance/budget", params={"region_code": CITY})).text
        chart = city[city.index("失能补贴预算执行") :].split("</svg>")[0]
        assert f"<title>已承诺: {yuan(await committed(CITY))} 元</title>" in chart
        assert "行政区划代码" not in city and 'id="region_code"' in city  # picked by name
        html = (await c.get("/finance/budget", params={"region_code": "<x>"})).text
        assert "<x>" not in html
        period = (await web.vouchers(web.b1))[0]["period"]
        rec = await c.get("/finance/reconciliation", params={"period": period})
        assert rec.status_code == 200 and "账实相符，没有差异" in rec.text
        # with what was checked, not a bare verdict
        checked = rec.text[rec.text.index('id="checked"') :].split("</section>")[0]
        assert re.search(r"消费记录 <strong>\d+</strong> 笔", checked), checked
        assert "自付款：收到" in checked
        this_month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        assert f'value="{this_month}"' in (await c.get("/finance/reconciliation")).text
        f = await c.get("/finance/reconciliation.csv", params={"period": period})
        assert f.status_code == 200 and f.headers["content-type"].startswith("text/csv")
        bad = await c.get("/finance/reconciliation", params={"period": "11-2026"})
        assert "2026-11" in bad.text and "请按" in bad.text
        assert (
            await c.get("/finance/reconciliation.pdf", params={"period": "2026-11"})
        ).status_code == 422


async def test_the_reconciliation_file_lists_each_discrepancy_in_chinese_and_yuan(web):
    """A sale the relay has not yet carried to the ledger is a discrepancy (核销未入账) in
    the month's file, with its amount in 元; once posted, the file is its headings alone."""
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "23.40")
        _, done = await _confirm(c, token, preview)
    assert done.status_code == 200
    period = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    headings = ["差异类型", "有误的一方", "金额（元）", "记录"]
    async with web.signed_in("finance") as c:
        f = await c.get("/finance/reconciliation.csv", params={"period": period})
        assert f.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(f.content.decode("utf-8-sig"))))
        assert rows[0] == headings
        unposted = [r for r in rows[1:] if r[0] == "核销未入账"]
        assert len(unposted) == 1 and unposted[0][1] == "账簿"
        assert Decimal(unposted[0][2]) > 0 and unposted[0][3].startswith("核销 ")
        x = await c.get("/finance/reconciliation.xlsx", params={"period": period})
        sheet = load_workbook(io.BytesIO(x.content)).active
        assert [cell.value for cell in sheet[1]] == headings
        assert (
            sheet.cell(2, 1).value == "核销未入账" and sheet.cell(2, 3).number_format == "#,##0.00"
        )
        await web.relay()
        f = await c.get("/finance/reconciliation.csv", params={"period": period})
        assert f.content.decode("utf-8-sig").splitlines() == [",".join(headings)]


async def test_personal_data_never_reaches_the_logs(web, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    form_data = _enrol_form(905)
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/enrol")).text)
        await c.post("/officer/enrol", data={**form_data, "csrf_token": token})
        await c.post("/officer/enrol", data={**form_data, "csrf_token": token, "lat": "x"})
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert form_data["national_id"] not in text and form_data["phone"] not in text


async def test_concurrent_people_each_see_only_their_own_vouchers(web):
    """Requests of different people race over the shared connection pools; each answer
    carries the right person's data (the bearer is per request, never per pool)."""
    import asyncio

    async with web.signed_in("laowang") as a, web.signed_in("xiaoli") as b:
        page = await b.get("/me")
        await b.post(
            "/me/act-for", data={"csrf_token": csrf_of(page.text), "beneficiary_id": web.b2}
        )

        async def look(c, want: str, other: str) -> None:
            html = (await c.get("/me")).text
            assert want in html and other not in html

        await asyncio.gather(
            *[look(a, "面额 500.00", "面额 800.00") for _ in range(15)],
            *[look(b, "面额 800.00", "面额 500.00") for _ in range(15)],
        )


async def test_a_revoked_proxy_sees_a_plain_refusal_at_once(web):
    """The officer withdraws the proxy's authorisation for 李奶奶: the signed-in proxy's next
    page says so plainly (their token still lists her; the service checks the live record)."""
    async with web.signed_in("xiaoli") as c:
        page = await c.get("/me")
        await c.post(
            "/me/act-for", data={"csrf_token": csrf_of(page.text), "beneficiary_id": web.b2}
        )
        assert "面额 800.00" in (await c.get("/me")).text
        proxies = (
            await web.voucher.get(f"/v1/beneficiaries/{web.b2}/proxies", headers=web.officer())
        ).json()
        pid = next(p["id"] for p in proxies if p["proxy_sub"] == "web:xiaoli")
        r = await web.voucher.post(
            f"/v1/beneficiaries/{web.b2}/proxies/{pid}/revoke", headers=web.officer()
        )
        assert r.status_code == 200, r.text
        html = (await c.get("/me")).text
        assert "面额 800.00" not in html and "不在您负责的范围内" in html
        # Not asserted here: POST /v1/beneficiaries/{id}/codes checks only the token's scope,
        # so a revoked proxy can still get a code until their sign-in expires (reported).


# --- settlement: the provider admin claims, another person (finance) approves --------------


async def test_provider_admin_claims_the_month_and_finance_approves(web):
    """Runs after the ledger browsing tests in this module and before the tampering one."""
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "40")
        await _confirm(c, token, preview)
    await web.relay()
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    async with web.signed_in("admin1") as c:
        # the page opens on last month (the one to claim); a month to come offers nothing
        first = await c.get("/provider/claims")
        assert f'value="{month}"' not in first.text.split('id="period"')[1].split(">")[0]
        later = await c.get("/provider/claims", params={"period": "2099-01"})
        assert "这个月还没有到" in later.text and 'id="claim"' not in later.text
        page = await c.get("/provider/claims", params={"period": month})
        assert page.status_code == 200 and "可申请结算" in page.text
        # the month in progress: said, and claimed only when ticked
        assert 'id="claim-early"' in page.text and 'name="sure"' in page.text
        count = int(re.search(r'id="claimable-count">(\d+)<', page.text).group(1))
        total = re.search(r'id="claimable-total">([\d,.]+)<', page.text).group(1)
        assert count >= 1
        bad = await c.get("/provider/claims", params={"period": "2026-13"})
        assert bad.status_code == 422 and "2026-11" in bad.text
        data = {
            "csrf_token": csrf_of(page.text),
            "period": _hidden(page.text, "period"),
            "idempotency_key": _hidden(page.text, "idempotency_key"),
        }
        unticked = await c.post("/provider/claims", data=data, follow_redirects=True)
        assert "请先勾选确认" in unticked.text
        for future in ("2099-01",):
            r = await c.post("/provider/claims", data={**data, "period": future, "sure": "1"})
            assert r.status_code == 303
        data["sure"] = "1"
        bad = await c.post("/provider/claims", data={**data, "idempotency_key": "x"})
        assert bad.status_code == 422
        assert await web.count("ledger", "SELECT count(*) FROM claim") == 0
        # Two tabs (two forms, two keys) and a double press, racing: one claim.
        other = await c.get("/provider/claims", params={"period": month})
        data2 = {**data, "idempotency_key": _hidden(other.text, "idempotency_key")}
        assert data2["idempotency_key"] != data["idempotency_key"]
        answers = await asyncio.gather(
            *(c.post("/provider/claims", data=d) for d in (data, data, data2))
        )
        assert 303 in {r.status_code for r in answers}
        assert all(r.status_code in (303, 409, 422) for r in answers)
        after = (await c.get("/provider/claims", params={"period": month})).text
        assert "已提交结算申请" in after and "待财务审批" in after
        assert 'id="claimable-count">0<' in after
    assert await web.count("ledger", "SELECT count(*) FROM claim") == 1
    # A claimed redemption can no longer be voided.
    async with web.signed_in("staff1") as c:
        today = await c.get("/provider/today")
        assert "已申请结算，不能撤销" in today.text
        rid = await web.count(
            "voucher",
            "SELECT id::text FROM redemption WHERE claim_id IS "
            "NOT NULL AND status <> 'voided' LIMIT 1",
        )
        balance = await web.balance(web.b1, DISABILITY)
        await c.post(
            f"/provider/redemptions/{rid}/void",
            data={"csrf_token": csrf_of(today.text), "reason": "试一下"},
        )
        assert "不能撤销" in (await c.get("/provider/today")).text
        assert await web.balance(web.b1, DISABILITY) == balance
    async with web.signed_in("admin1") as c:  # the provider may not approve its own claim
        assert (await c.get("/finance/claims")).status_code == 403
    cid = await web.count("ledger", "SELECT id::text FROM claim")
    async with web.signed_in("finance_lz") as c:  # finance of another city: out of scope
        page = await c.get("/finance/claims")
        assert cid not in page.text and "没有待审批的结算申请" in page.text
        r = await c.post(f"/finance/claims/{cid}/approve", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        assert "msg-err" in (await c.get("/finance/claims")).text
    assert await web.count("ledger", "SELECT status FROM claim") == "submitted"
    async with web.signed_in("finance") as c:
        page = await c.get("/finance/claims")
        assert "青秀区幸福助餐点" in page.text and total in page.text
        assert "孙主任" in page.text and "web:admin1" not in page.text  # who submitted it
        assert f'data-claim="{cid}"' in page.text
        r = await c.post(f"/finance/claims/{cid}/approve", data={"csrf_token": "forged"})
        assert r.status_code == 403
        assert (
            await web.count("ledger", "SELECT count(*) FROM claim WHERE status = 'approved'") == 0
        )
        r = await c.post(f"/finance/claims/{cid}/approve", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        done = await c.get("/finance/claims")
        assert "已审批通过" in done.text and cid not in done.text
    assert await web.count("ledger", "SELECT approved_by FROM claim") == "web:finance"
    async with web.signed_in("admin1") as c:
        assert "已审批，待付款" in (await c.get("/provider/claims")).text


async def test_finance_sends_a_claim_back_with_reasons(web):
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "12")
        await _confirm(c, token, preview)
    await web.relay()
    async with web.signed_in("admin1") as c:
        month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        page = await c.get("/provider/claims", params={"period": month})
        r = await c.post(
            "/provider/claims",
            data={
                "csrf_token": csrf_of(page.text),
                "period": _hidden(page.text, "period"),
                "idempotency_key": _hidden(page.text, "idempotency_key"),
                "sure": "1",
            },
        )
        assert r.status_code == 303
    cid = await web.count("ledger", "SELECT id::text FROM claim WHERE status = 'submitted'")
    async with web.signed_in("finance") as c:
        page = await c.get("/finance/claims")
        token = csrf_of(page.text)
        r = await c.post(
            f"/finance/claims/{cid}/reject", data={"csrf_token": token, "reasons": "  \n "}
        )
        assert r.status_code == 303
        assert "请填写退回原因" in (await c.get("/finance/claims")).text
        assert (
            await web.count("ledger", f"SELECT status FROM claim WHERE id = '{cid}'") == "submitted"
        )
        r = await c.post(
            f"/finance/claims/{cid}/reject",
            data={"csrf_token": token, "reasons": "缺少签到记录\n金额与台账不符"},
        )
        assert r.status_code == 303
        assert "已退回给服务机构" in (await c.get("/finance/claims")).text
    assert await web.count("ledger", f"SELECT status FROM claim WHERE id = '{cid}'") == "rejected"
    async with web.signed_in("admin1") as c:  # with its own valid form token: the role
        page = await c.get("/provider/claims")
        assert "已退回" in page.text
        assert (
            await c.post(
                f"/finance/claims/{cid}/reject",
                data={"csrf_token": csrf_of(page.text), "reasons": "x"},
            )
        ).status_code == 403


async def _chain_checked(c) -> str:
    """Start a chain check from the auditor's page and read its page once it has ended."""
    page = await c.get("/audit/chain")
    started = await c.post("/audit/chain/checks", data={"csrf_token": csrf_of(page.text)})
    return (await import_finished(c, started, prefix="/audit/chain/checks/")).text


async def test_chain_verification_shows_ok_then_names_the_tampered_entry(web):
    """Last in the module: it tampers with the ledger. The check runs in the background book
    by book; its page shows each book's verdict, the whole one and the progress in entries,
    and the auditor finds it again among the recent checks."""
    entries = await web.count("ledger", "SELECT count(*) FROM entry")
    books = await web.count("ledger", "SELECT count(DISTINCT book) FROM entry")
    async with web.signed_in("auditor") as c:
        idle = await c.get("/audit/chain")
        assert "开始校验" in idle.text and "chain-result" not in idle.text
        ok = await _chain_checked(c)
        assert 'data-status="done"' in ok and "账本完整" in ok
        assert f'<strong id="entries-checked">{entries}</strong>' in ok
        assert f"已处理 <strong>{entries}</strong> / {entries} 笔分录" in ok
        assert ok.count('class="book-result" data-ok="yes"') == books
        back = await c.get("/audit/chain")  # left and come back: the check is listed
        assert 'id="recent-checks"' in back.text and "账本完整" in back.text
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(web.dbs["ledger"].owner_url))
        try:
            await conn.execute("SET session_replication_role = replica")
            book = await conn.fetchval("SELECT book FROM entry WHERE seq = 3 ORDER BY book LIMIT 1")
            await conn.execute(
                "UPDATE posting SET amount_fen = amount_fen + 1 WHERE entry_id ="
                " (SELECT id FROM entry WHERE seq = 3 AND book = $1) AND line = 1",
                book,
            )
        finally:
            await conn.close()
        bad = await _chain_checked(c)
        assert "账本校验失败" in bad and "#3" in bad
        assert 'data-ok="no"' in bad
        job = re.search(r"/audit/chain/checks/([0-9a-f-]{36})", back.text).group(1)
    async with web.signed_in("auditor_city") as c:
        page = await c.get("/audit/chain")
        r = await c.post("/audit/chain/checks", data={"csrf_token": csrf_of(page.text)})
        assert "不在您负责的范围内" in r.text or "没有这项权限" in r.text
        # another auditor's check is not theirs to read
        assert (await c.get(f"/audit/chain/checks/{job}")).status_code == 404


async def test_nearby_says_when_the_registered_location_is_approximate_or_missing(web):
    """The elder's nearby page searches around the registered location, says when that is a
    community's centre, and, with none registered, asks for the phone's position; nobody
    types coordinates."""
    made = {}
    for name, serial, extra in (
        ("近似", 951, {"location_approximate": True}),
        ("无址", 952, {"lat": None, "lon": None}),
    ):
        body = {**enrolment(name, serial), **extra}
        r = await web.voucher.post("/v1/beneficiaries", headers=web.officer(), json=body)
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]
        await web.add_account(
            username=f"nearby{serial}",
            role="beneficiary",
            display_name=name,
            beneficiary_ids=[made[name]],
        )
    async with web.signed_in("nearby951") as c:
        text = (await c.get("/me/nearby")).text
        assert "登记的住址" in text and "所在社区的位置" in text and 'id="lat"' not in text
        assert "青秀区幸福助餐点" in text and "11:00–13:00" in text
    async with web.signed_in("nearby952") as c:
        text = (await c.get("/me/nearby")).text
        assert "没有登记住址的位置" in text and "nearby-item" not in text
        # the phone's position (sent by the page's script): the same list, from there
        text = (await c.get("/me/nearby", params={"lat": 22.8171, "lon": 108.3661})).text
        assert "手机现在的位置" in text and "青秀区幸福助餐点" in text


async def test_issuance_check_warns_when_the_budget_cannot_cover_the_run(web):
    """With less budget left than the run commits, the check says so in words, with both
    figures, before anything is issued; the budget is given back afterwards."""
    period = (await web.vouchers(web.b1))[0]["period"]
    year, month = (int(x) for x in period.split("-"))
    later = f"{year + month // 12}-{month % 12 + 1:02d}"  # the month after: nobody has it yet
    choice = {"program_code": DISABILITY, "period": later, "region_code": DISTRICT}
    officer = web.officer(DISTRICT)
    preview = (await web.voucher.get("/v1/issuance-preview", params=choice, headers=officer)).json()
    assert preview["to_issue_fen"] > 10_000 and preview["budget_region_code"] == DISTRICT
    finance = web.tokens.headers("finance", sub="test:finance", region=PROVINCE)
    asked = {"program_code": DISABILITY, "region_code": DISTRICT}
    before = (await web.ledger.get("/v1/budget", params=asked, headers=finance)).json()
    programs = (await web.voucher.get("/v1/programs", headers=officer)).json()
    shares = next(p for p in programs if p["code"] == DISABILITY)["config"]["funding_shares"]
    # Something else commits all but 100 元 of the district's budget.
    spent = await web.ledger.post(
        "/v1/commitments",
        headers=web.tokens.headers("service", sub="service:test"),
        json={
            "idempotency_key": f"web-test:short:{uuid.uuid4()}",
            "purpose": "voucher",
            "program_code": DISABILITY,
            "region_code": DISTRICT,
            "period": later,
            "amount_fen": before["available_fen"] - 10_000,
            "count": 1,
            "funding_shares": shares,
        },
    )
    assert spent.status_code == 201, spent.text
    after = (await web.ledger.get("/v1/budget", params=asked, headers=finance)).json()
    try:
        async with web.signed_in("officer") as c:
            html = (await c.get("/officer/issuance/check", params=choice)).text
        warning = re.search(r'id="budget-short">([^<]+)<', html)
        assert warning, "no budget warning on the check"
        need, have = preview["to_issue_fen"], after["available_fen"]
        assert "预算不够" in warning.group(1)
        assert f"需要 {need // 100:,}.{need % 100:02d} 元" in warning.group(1)
        assert f"可用 {have // 100:,}.{have % 100:02d} 元" in warning.group(1)
    finally:
        back = {
            k: before["by_source"][k] - after["by_source"].get(k, 0) for k in before["by_source"]
        }
        restored = await web.ledger.post(
            "/v1/appropriations",
            headers=finance,
            json={
                "idempotency_key": f"web-test:short-back:{uuid.uuid4()}",
                "program_code": DISABILITY,
                "region_code": DISTRICT,
                "by_source": {k: v for k, v in back.items() if v > 0},
                "memo": "测试预算退回",
            },
        )
        assert restored.status_code == 201, restored.text
    # With its budget back, the same check carries no warning.
    async with web.signed_in("officer") as c:
        html = (await c.get("/officer/issuance/check", params=choice)).text
    assert 'id="budget-short"' not in html and 'id="confirm-issuance"' in html
