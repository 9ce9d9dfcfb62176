"""Pages against the services: the real ledger in-process; voucher and provider through
their contract stand-ins. Bad input shows a clear message and changes nothing."""

from __future__ import annotations

import base64
import re

import asyncpg

from services.common.db import asyncpg_connect_kwargs
from tests.ledger.conftest import redemption
from tests.web.conftest import B1, B2, B3, csrf_of

# --- beneficiary and proxy ---------------------------------------------------------------

async def test_home_shows_balance_and_validity(web):
    async with web.signed_in("laowang") as c:
        html = (await c.get("/me")).text
        assert "420.50" in html and "2026-11-30" in html and "可使用" in html
        assert "失能老年人养老服务消费补贴" in html


async def test_proxy_switches_only_between_people_they_may_act_for(web):
    async with web.signed_in("xiaoli") as c:
        page = await c.get("/me")
        assert "420.50" in page.text and "切换" in page.text
        assert "王大爷" in page.text and "李奶奶" in page.text
        token = csrf_of(page.text)
        r = await c.post("/me/act-for", data={"csrf_token": token, "beneficiary_id": B2})
        assert r.status_code == 303
        assert "7.00" in (await c.get("/me")).text
        r = await c.post("/me/act-for", data={"csrf_token": token, "beneficiary_id": B3})
        html = (await c.get("/me")).text
        assert "7.00" in html  # still acting for B2: B3 is not theirs


async def test_qr_code_is_fresh_each_time_and_its_picture_comes_inline(web):
    async with web.signed_in("laowang") as c:
        page = await c.get("/me/qr")
        assert page.status_code == 200 and "/static/qr.js" in page.text
        headers = {"X-CSRF-Token": csrf_of(page.text)}
        one = (await c.post("/me/qr/code", headers=headers)).json()
        two = (await c.post("/me/qr/code", headers=headers)).json()
        assert one["image"] != two["image"] and 50 <= one["expires_in_s"] <= 60
        prefix = "data:image/svg+xml;base64,"
        assert one["image"].startswith(prefix)
        assert b"<svg" in base64.b64decode(one["image"][len(prefix):])
        token = list(web.voucher.state.codes)[-1]
        assert token not in two["image"]  # the token is only inside the picture
        assert len(web.voucher.state.codes) == 2


async def test_history_lists_redemptions_with_subsidy_and_copay(web):
    async with web.signed_in("staff1") as c:
        token, preview = await _redeem(web, c, "15.00")
        await c.post("/provider/redeem/confirm", data={
            "csrf_token": csrf_of(preview.text), "token": token, "service_code": "MEAL_LUNCH",
            "gross_fen": "1500", "idempotency_key": _hidden(preview.text, "idempotency_key")})
    async with web.signed_in("laowang") as c:
        html = (await c.get("/me/history")).text
        assert "补贴 12.00 元" in html and "自付 3.00 元" in html


async def test_nearby_lists_approved_providers_with_distance_and_prices(web):
    async with web.signed_in("laowang") as c:
        html = (await c.get("/me/nearby", params={"lat": 22.81, "lon": 108.37})).text
        assert "青秀区幸福助餐点" in html and "300 米" in html and "午餐：15.00 元" in html
        assert "仁爱" not in html  # applied, not approved
        home = (await c.get("/me/nearby")).text  # defaults to around the person's home
        assert "青秀区幸福助餐点" in home and 'value="22.81"' in home


# --- provider staff --------------------------------------------------------------------------

async def _redeem(web, c, amount: str, service: str = "MEAL_LUNCH"):
    async with web.signed_in("laowang") as elder:
        page = await elder.get("/me/qr")
        code = (await elder.post("/me/qr/code",
                                 headers={"X-CSRF-Token": csrf_of(page.text)})).json()
    assert code["image"].startswith("data:image/svg+xml")
    token = list(web.voucher.state.codes)[-1]  # the code that page shows
    form = await c.get("/provider/redeem")
    preview = await c.post("/provider/redeem", data={
        "csrf_token": csrf_of(form.text), "token": token, "service_code": service,
        "gross_yuan": amount})
    return token, preview


def _hidden(html: str, name: str) -> str:
    import re

    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


async def test_redeem_preview_confirm_and_retry_moves_money_once(web):
    async with web.signed_in("staff1") as c:
        form = await c.get("/provider/redeem")
        assert "午餐（15.00 元）" in form.text and "/static/vendor/jsQR.js" in form.text
        token, preview = await _redeem(web, c, "20.5")
        assert preview.status_code == 200 and "20.50" in preview.text and "午餐" in preview.text
        data = {"csrf_token": csrf_of(preview.text), "token": token,
                "service_code": "MEAL_LUNCH", "gross_fen": _hidden(preview.text, "gross_fen"),
                "idempotency_key": _hidden(preview.text, "idempotency_key")}
        assert data["gross_fen"] == "2050"
        done = await c.post("/provider/redeem/confirm", data=data)
        assert done.status_code == 200 and "收款成功" in done.text
        assert "16.40" in done.text and "4.10" in done.text  # 80% of 20.50, rest co-pay
        again = await c.post("/provider/redeem/confirm", data=data)  # double press / retry
        assert "16.40" in again.text
    assert web.vouchers[B1][0]["balance_fen"] == 42050 - 1640


async def test_preview_shows_subsidy_and_copay_when_the_service_offers_it(web):
    async with web.signed_in("staff1") as c:
        _, without = await _redeem(web, c, "20")
        assert "确认后立即显示" in without.text and "preview-subsidy" not in without.text
        web.voucher.state.preview_enabled = True
        _, preview = await _redeem(web, c, "20")
        assert 'id="preview-subsidy">16.00<' in preview.text
        assert 'id="preview-copay">4.00<' in preview.text
    assert web.vouchers[B1][0]["balance_fen"] == 42050  # a preview moves nothing


async def test_redeem_refuses_bad_input_and_a_used_code(web):
    async with web.signed_in("staff1") as c:
        for amount in ("", "abc", "0", "-3", "1.234", "99999999"):
            _, preview = await _redeem(web, c, amount)
            assert preview.status_code == 422 and "请输入正确的金额" in preview.text
        _, preview = await _redeem(web, c, "10", service="NOT_A_SERVICE")
        assert preview.status_code == 422 and "请选择服务项目" in preview.text
        assert web.vouchers[B1][0]["balance_fen"] == 42050
        token, preview = await _redeem(web, c, "10")
        data = {"csrf_token": csrf_of(preview.text), "token": token,
                "service_code": "MEAL_LUNCH", "gross_fen": "1000",
                "idempotency_key": _hidden(preview.text, "idempotency_key")}
        assert "收款成功" in (await c.post("/provider/redeem/confirm", data=data)).text
        replay = await c.post("/provider/redeem/confirm",
                              data={**data, "idempotency_key": "3f1a4a9e-0000-4000-8000-000000000001"})
        assert replay.status_code == 409 and "已经用过" in replay.text
        bad_key = await c.post("/provider/redeem/confirm", data={**data, "idempotency_key": "x"})
        assert bad_key.status_code == 422
    assert web.vouchers[B1][0]["balance_fen"] == 42050 - 800


async def test_today_lists_summarises_and_voids_once(web):
    async with web.signed_in("staff1") as c:
        for amount in ("15", "10"):
            token, preview = await _redeem(web, c, amount)
            await c.post("/provider/redeem/confirm", data={
                "csrf_token": csrf_of(preview.text), "token": token,
                "service_code": "MEAL_LUNCH", "gross_fen": str(int(amount) * 100),
                "idempotency_key": _hidden(preview.text, "idempotency_key")})
        page = await c.get("/provider/today")
        assert "共 <strong>2</strong> 笔" in page.text and "<strong>20.00</strong>" in page.text
        rid = re.search(r'/provider/redemptions/([\w-]+)/void', page.text).group(1)
        token = csrf_of(page.text)
        r = await c.post(f"/provider/redemptions/{rid}/void", data={"csrf_token": token,
                                                                   "reason": ""})
        assert "请填写撤销原因" in (await c.get("/provider/today")).text
        balance = web.vouchers[B1][0]["balance_fen"]
        r = await c.post(f"/provider/redemptions/{rid}/void",
                         data={"csrf_token": token, "reason": "录错金额"})
        assert r.status_code == 303
        after = (await c.get("/provider/today")).text
        assert "已撤销，补贴已退回" in after and "共 <strong>1</strong> 笔" in after
        assert web.vouchers[B1][0]["balance_fen"] > balance
    async with web.signed_in("laowang") as c:
        assert (await c.post(f"/provider/redemptions/{rid}/void",
                             data={"csrf_token": "x", "reason": "y"})).status_code == 403


async def test_provider_admin_sees_price_list_and_issues_a_terminal_secret_once(web):
    async with web.signed_in("admin1") as c:
        page = await c.get("/provider/admin")
        assert "青秀区幸福助餐点" in page.text and "助餐点" in page.text
        assert "15.00 元" in page.text and "还没有终端" in page.text
        token = csrf_of(page.text)
        bad = await c.post("/provider/admin/terminals", data={"csrf_token": token, "name": " "})
        assert bad.status_code == 422 and "请填写终端名称" in bad.text
        r = await c.post("/provider/admin/terminals", data={"csrf_token": token,
                                                            "name": "前台一号机"})
        secret = re.search(r'id="secret">(yyt_[^<]+)<', r.text).group(1)
        again = await c.get("/provider/admin")
        assert "前台一号机" in again.text and secret not in again.text
    async with web.signed_in("staff1") as c:
        assert (await c.get("/provider/admin")).status_code == 403


async def test_staff_without_a_terminal_cannot_redeem(web):
    async with web.signed_in("staff2") as c:
        form = await c.get("/provider/redeem")
        assert "没有绑定收款终端" in form.text
        r = await c.post("/provider/redeem/confirm", data={
            "csrf_token": csrf_of(form.text), "token": "qr_abcdefgh", "service_code": "MEAL_LUNCH",
            "gross_fen": "1000", "idempotency_key": "3f1a4a9e-0000-4000-8000-000000000002"})
        assert r.status_code == 409
    assert web.vouchers[B1][0]["balance_fen"] == 42050


# --- civil-affairs officer -----------------------------------------------------------------

ENROL = {"national_id": "45010319400101123X", "name": "黄奶奶", "phone": "13800001111",
         "region_code": "450103", "address": "青秀区民族大道1号", "lat": "22.81",
         "lon": "108.37", "care_setting": "home", "self_care": "20", "motor": "10",
         "mental": "5", "perception_social": "6", "assessed_on": "2026-10-01",
         "assessor": "南宁市评估中心"}


async def test_enrol_shows_grade_and_masks_the_national_id(web):
    async with web.signed_in("officer") as c:
        form = await c.get("/officer/enrol")
        r = await c.post("/officer/enrol", data={**ENROL, "csrf_token": csrf_of(form.text)})
        assert r.status_code == 200 and "登记成功" in r.text and "3 级" in r.text
        assert ENROL["national_id"] not in r.text and "4501**********123X" in r.text
    sent = web.voucher.state.calls["enrol"][0]
    assert sent["assessment"]["scores"]["self_care"] == 20 and sent["lat"] == 22.81


async def test_enrol_bad_input_is_explained_and_nothing_is_sent(web):
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/enrol")).text)
        r = await c.post("/officer/enrol", data={**ENROL, "csrf_token": token, "lat": "north",
                                                 "name": "", "region_code": "45"})
        assert r.status_code == 422 and "请填写数字" in r.text and "这一项必须填写" in r.text
        assert "6、9 或 12 位数字" in r.text and ENROL["national_id"] not in r.text
        assert web.voucher.state.calls["enrol"] == []
        r = await c.post("/officer/enrol", data={**ENROL, "csrf_token": token,
                                                 "national_id": "123"})
        assert r.status_code == 422 and "身份证号码不正确" in r.text
        r = await c.post("/officer/enrol", data={**ENROL, "csrf_token": token,
                                                 "region_code": "450200"})
        assert r.status_code == 403 and "不在您负责的范围内" in r.text
    assert web.voucher.state.calls["enrol"] == []


async def test_import_shows_every_rows_result(web):
    csv = "national_id,name\n45010319400101123X,甲\nbad,乙\n450103194001011221,丙\n"
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/import")).text)
        r = await c.post("/officer/import", data={"csrf_token": token},
                         files={"file": ("people.csv", csv.encode(), "text/csv")})
        assert r.status_code == 200 and "共 3 行" in r.text
        assert r.text.count("row-err") == 1 and "身份证号码不正确" in r.text
        r = await c.post("/officer/import", data={"csrf_token": token},
                         files={"file": ("people.exe", b"MZ", "application/octet-stream")})
        assert r.status_code == 422 and "CSV 或 Excel" in r.text
    assert web.voucher.state.calls["import"] == ["people.csv"]


async def test_officer_approves_in_scope_and_is_refused_outside(web):
    async with web.signed_in("officer") as c:
        page = await c.get("/officer/providers", params={"status": "applied"})
        assert "仁爱" in page.text and "柳州" not in page.text  # outside 450103
        token = csrf_of(page.text)
        r = await c.post("/officer/providers/prov-new/approve",
                         data={"csrf_token": token, "reason": ""})
        assert r.status_code == 422 and web.providers["prov-new"]["status"] == "applied"
        r = await c.post("/officer/providers/prov-new/approve",
                         data={"csrf_token": token, "reason": "材料齐全"})
        assert r.status_code == 303 and web.providers["prov-new"]["status"] == "approved"
        assert "已批准" in (await c.get("/officer/providers")).text
        await c.post("/officer/providers/prov-far/approve",
                     data={"csrf_token": token, "reason": "越权"})
        assert "不在您负责的范围内" in (await c.get("/officer/providers")).text
        assert web.providers["prov-far"]["status"] == "applied"
        await c.post("/officer/providers/prov-new/approve",
                     data={"csrf_token": token, "reason": "再批一次"})
        assert "当前状态下不能" in (await c.get("/officer/providers")).text


async def test_issuance_run_shows_counts_and_rerun_issues_nothing(web):
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/issuance")).text)
        body = {"csrf_token": token, "program_code": "disability_subsidy",
                "period": "2026-11", "region_code": "450103"}
        assert "已发放 3 张" in (await c.post("/officer/issuance", data=body)).text
        assert "已发放 0 张，跳过 3 张" in (await c.post("/officer/issuance", data=body)).text
        r = await c.post("/officer/issuance", data={**body, "period": "2026-13"})
        assert r.status_code == 422 and "2026-11" in r.text
        run_id = "run-disability_subsidy-2026-11-450103"
        done = await c.get(f"/officer/issuance/{run_id}")
        assert "已完成" in done.text and 'http-equiv="refresh"' not in done.text
        web.voucher.state.runs[run_id]["status"] = "running"
        live = await c.get(f"/officer/issuance/{run_id}")
        assert "正在发放" in live.text and 'http-equiv="refresh"' in live.text
        assert "没有找到" in (await c.get("/officer/issuance/run-nope")).text
    assert len(web.voucher.state.calls["issuance"]) == 2


# --- finance and auditor, against the real ledger -------------------------------------------

async def _book(web):
    r = await web.ledger.appropriate({"central": 950_000, "regional": 50_000})
    assert r.status_code == 201, r.text
    assert (await web.ledger.commit(100_000)).status_code == 201
    await web.ledger.events([redemption(1500), redemption(1200)])


async def test_auditor_browses_entries_and_exports_csv(web):
    await _book(web)
    async with web.signed_in("auditor") as c:
        html = (await c.get("/audit/entries")).text
        assert html.count('class="card entry"') == 4 and "9,500.00" in html
        csv = await c.get("/audit/entries.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].lstrip("\ufeff").startswith("seq,entry_id") and len(lines) > 8
        one = await c.get("/audit/entries", params={"provider_id": "prov-1"})
        assert one.text.count('class="card entry"') == 2
        bad = await c.get("/audit/entries", params={"period": "2026-13"})
        assert "填写的内容有误" in bad.text
        bad = await c.get("/audit/entries", params={"account": "<script>"})
        assert "格式不对" in bad.text and "<script>" not in bad.text


async def test_trial_balance_at_a_date_is_balanced(web):
    await _book(web)
    async with web.signed_in("auditor") as c:
        now = await c.get("/audit/trial-balance")
        assert "借贷平衡" in now.text and '"total-debit">11,054.00<' in now.text
        assert "国库资金" in now.text and "流通中补贴券" in now.text
        before = await c.get("/audit/trial-balance", params={"as_of": "2020-01-01"})
        assert "借贷平衡" in before.text and "11,054.00" not in before.text
        csv = await c.get("/audit/trial-balance.csv")
        assert csv.status_code == 200 and "TOTAL" in csv.text
        bad = await c.get("/audit/trial-balance", params={"as_of": "yesterday"})
        assert "日期格式" in bad.text
    async with web.signed_in("finance") as c:
        assert "借贷平衡" in (await c.get("/finance")).text


async def test_chain_verification_shows_ok_then_names_the_tampered_entry(web):
    await _book(web)
    async with web.signed_in("auditor") as c:
        idle = await c.get("/audit/chain")
        assert "开始校验" in idle.text and "chain-result" not in idle.text
        ok = await c.get("/audit/chain", params={"run": 1})
        assert "账本完整" in ok.text and '<strong id="entries-checked">4</strong>' in ok.text
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(web.ledger.sdb.owner_url))
        try:
            await conn.execute("SET session_replication_role = replica")
            await conn.execute("UPDATE posting SET amount_fen = amount_fen + 1 WHERE entry_id ="
                               " (SELECT id FROM entry WHERE seq = 3) AND line = 1")
        finally:
            await conn.close()
        bad = await c.get("/audit/chain", params={"run": 1})
        assert "账本校验失败" in bad.text and "#3" in bad.text
    async with web.signed_in("auditor_city") as c:
        r = await c.get("/audit/chain", params={"run": 1})
        assert "不在您负责的范围内" in r.text or "没有这项权限" in r.text


async def test_finance_budget_chart_and_reconciliation(web):
    await _book(web)
    async with web.signed_in("finance") as c:
        html = (await c.get("/finance/budget", params={"region_code": "450103"})).text
        assert "<svg" in html and "失能补贴" in html and "9,000.00 元" in html
        html = (await c.get("/finance/budget", params={"region_code": "<x>"})).text
        assert "<x>" not in html
        rec = await c.get("/finance/reconciliation", params={"period": "2026-11"})
        assert rec.status_code == 200 and ("尚未开通" in rec.text or "差异" in rec.text)
        bad = await c.get("/finance/reconciliation", params={"period": "11-2026"})
        assert "2026-11" in bad.text and "请按" in bad.text
        f = await c.get("/finance/reconciliation.csv", params={"period": "2026-11"})
        assert f.status_code == 404 and "尚未开通" in f.text  # the ledger has none yet
        assert (await c.get("/finance/reconciliation.pdf",
                            params={"period": "2026-11"})).status_code == 422
    async with web.signed_in("auditor") as c:
        rec = await c.get("/finance/reconciliation", params={"period": "2026-11"})
        assert rec.status_code == 200


async def test_claims_page_says_plainly_when_the_ledger_has_no_claims_yet(web):
    async with web.signed_in("finance") as c:
        page = await c.get("/finance/claims")
        assert page.status_code == 200 and "结算审批功能尚未开通" in page.text
        r = await c.post("/finance/claims/claim-1/approve",
                         data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        assert "msg-err" in (await c.get("/finance/claims")).text
    async with web.signed_in("auditor") as c:
        assert (await c.get("/finance/claims")).status_code == 403


async def test_personal_data_never_reaches_the_logs(web, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/enrol")).text)
        await c.post("/officer/enrol", data={**ENROL, "csrf_token": token})
        await c.post("/officer/enrol", data={**ENROL, "csrf_token": token, "lat": "x"})
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert ENROL["national_id"] not in text and ENROL["phone"] not in text
    assert len(web.voucher.state.calls["enrol"]) == 1


async def test_concurrent_people_each_see_only_their_own_vouchers(web):
    """Requests of different people race over the shared connection pools; each answer
    carries the right person's data (the bearer is per request, never per pool)."""
    import asyncio

    async with web.signed_in("laowang") as a, web.signed_in("xiaoli") as b:
        page = await b.get("/me")
        await b.post("/me/act-for", data={"csrf_token": csrf_of(page.text),
                                           "beneficiary_id": B2})

        async def look(c, want: str, other: str) -> None:
            html = (await c.get("/me")).text
            assert want in html and other not in html

        await asyncio.gather(*[look(a, "420.50", "7.00") for _ in range(15)],
                             *[look(b, "7.00", "420.50") for _ in range(15)])
