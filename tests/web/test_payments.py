"""Finance payment batches, provider statements and aging, against the real services
(in-process; see tests/web/system.py). Each test makes the redemptions and claims it needs
and asserts on the change it makes, read back from the services' databases."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import uuid
from decimal import Decimal

import httpx
from openpyxl import load_workbook

from services.common.settings import CommonSettings
from tests.web.conftest import csrf_of
from tests.web.system import PROVINCE
from web import clients
from web.routes.payments import OWN_BATCH
from web.routes.statements import STATEMENT_ITEMS
from web.service.accounts import mask_subject, person_name

FINANCE_PAGES = ("/finance/payments", "/finance/aging", "/finance/statement?provider_id=x")


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


async def _redeem(web, gross_fen: int = 6_000) -> dict:
    """A bath at the meal point through the voucher API, as the terminal does."""
    code = await web.voucher.post(
        f"/v1/beneficiaries/{web.b1}/codes",
        headers=web.tokens.headers("beneficiary", sub=f"test:{web.b1}", beneficiary_ids=(web.b1,)),
    )
    r = await web.voucher.post(
        "/v1/redemptions",
        headers={"Authorization": f"Bearer {web.terminal_secret}"},
        json={
            "token": code.json()["token"],
            "service_code": "BATH_HOME",
            "gross_fen": gross_fen,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _claim(web, sub: str = "web:admin1") -> dict:
    """Redeem, post it to the ledger, claim the month as `sub` (submitted, not approved)."""
    await _redeem(web)
    await web.relay()
    period = (
        await web.ledger.get(
            "/v1/claims/claimable",
            params={"provider_id": web.p1, "period": _month()},
            headers=_admin(web),
        )
    ).json()
    assert period["count"] >= 1, period
    r = await web.ledger.post(
        "/v1/claims", headers=_admin(web, sub), json={"provider_id": web.p1, "period": _month()}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _approved(web, sub: str = "web:admin1") -> dict:
    claim = await _claim(web, sub)
    r = await web.ledger.post(
        f"/v1/claims/{claim['id']}/approve",
        json={},
        headers=web.tokens.headers("finance", sub="test:checker", region=PROVINCE),
    )
    assert r.status_code == 200, r.text
    return claim


def _admin(web, sub: str = "web:admin1") -> dict[str, str]:
    return web.tokens.headers("provider_admin", sub=sub, provider_id=web.p1)


def _month() -> str:
    from web.routes.provider import this_month

    return this_month()


def _confirmation(file_bytes: bytes, status: str = "paid") -> bytes:
    """The bank's answer to an instruction file: every line with the given status."""
    rows = list(csv.DictReader(io.StringIO(file_bytes.decode("utf-8"))))
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["batch_reference", "line_reference", "status", "amount_fen", "bank_reference"])
    for r in rows:
        w.writerow([r["batch_reference"], r["line_reference"], status, r["amount_fen"], "BK9"])
    return out.getvalue().encode()


# --- pure rules --------------------------------------------------------------------------


async def test_an_unknown_submitter_is_masked_not_shown_whole(web):
    from services.common.db import Database

    await web.add_account(
        username="admin9", role="provider_admin", display_name="钱主任", provider_id="p9"
    )
    db = Database(web.dbs["web"].app_url, pool_size=1)
    try:
        async with db.unit_of_work() as s:
            assert await person_name(s, "web:admin9") == "钱主任"
            assert await person_name(s, "web:gone-user") == mask_subject("web:gone-user")
            assert mask_subject("web:gone-user") == "g******r"
            assert await person_name(s, "test:ab") == "a*" and await person_name(s, None) == ""
    finally:
        await db.dispose()
    assert "admin" not in mask_subject("terminal:admin-desk-7")


# --- claims show who submitted them ----------------------------------------------------


async def test_finance_claim_page_shows_the_submitters_name(web):
    await _claim(web, "web:admin1")
    async with web.signed_in("finance") as c:
        html = (await c.get("/finance/claims")).text
    assert '<span class="submitter">孙主任</span>' in html and "web:admin1" not in html
    cid = await web.count("ledger", "SELECT id::text FROM claim WHERE status = 'submitted'")
    await web.ledger.post(
        f"/v1/claims/{cid}/approve",
        json={},
        headers=web.tokens.headers("finance", sub="test:checker", region=PROVINCE),
    )
    await _claim(web, "test:padmin-desk")  # nobody in the account store
    async with web.signed_in("finance") as c:
        html = (await c.get("/finance/claims")).text
    assert '<span class="submitter">p******k</span>' in html and "padmin-desk" not in html


# --- the provider staff's daily summary --------------------------------------------------


async def test_today_summary_totals_subsidy_and_copay(web):
    def totals(html: str) -> tuple[int, ...]:
        count = int(re.search(r"共 <strong>(\d+)</strong> 笔", html).group(1))
        subsidy, copay = re.search(
            r"补贴合计 <strong>([\d,.]+)</strong> 元，老人自付合计 "
            r"([\d,.]+) 元",
            html,
        ).groups()
        return count, *(int(v.replace(",", "").replace(".", "")) for v in (subsidy, copay))

    async with web.signed_in("staff1") as c:
        before = totals((await c.get("/provider/today")).text)
        done = await _redeem(web, 7_000)
        after = totals((await c.get("/provider/today")).text)
    assert after == (before[0] + 1, before[1] + done["subsidy_fen"], before[2] + done["copay_fen"])


# --- payment batches -------------------------------------------------------------------------


async def test_finance_batches_pays_and_the_statement_shows_the_payment(web):
    claim = await _approved(web)
    async with web.signed_in("finance") as c:
        page = await c.get("/finance/payments")
        assert page.status_code == 200 and "青秀区幸福助餐点" in page.text
        assert f'value="{claim["id"]}"' in page.text
        assert "这个月没有待发放的现金补贴" in page.text  # nobody here is 低保
        form = {
            "csrf_token": csrf_of(page.text),
            "idempotency_key": _hidden(page.text, "idempotency_key"),
            "cash_period": _month(),
            "claim_ids": [claim["id"]],
        }
        # Nothing chosen, a stale form: explained, nothing made.
        bad = await c.post("/finance/payments", data={**form, "claim_ids": []})
        assert bad.status_code == 422 and "请至少勾选" in bad.text
        bad = await c.post("/finance/payments", data={**form, "idempotency_key": "x"})
        assert bad.status_code == 422 and "页面已过期" in bad.text
        assert await web.count("ledger", "SELECT count(*) FROM payment_batch") == 0
        # A double press (same form, same key), racing: one batch.
        answers = await asyncio.gather(*(c.post("/finance/payments", data=form) for _ in range(2)))
        assert 303 in {r.status_code for r in answers}, [r.text[:300] for r in answers]
        assert await web.count("ledger", "SELECT count(*) FROM payment_batch") == 1
        again = await c.post("/finance/payments", data=form)  # a retry later: same batch
        assert again.status_code == 303
        where = next(r.headers["location"] for r in answers if r.status_code == 303)
        assert again.headers["location"] == where
        batch_id = where.rsplit("/", 1)[1]
        page = await c.get(where)
        assert "已生成付款批次" in page.text and "等待银行回单" in page.text
        sha = re.search(r'id="file-sha256">([0-9a-f]{64})<', page.text).group(1)
        assert "待付款" in page.text and "青秀区幸福助餐点" in page.text

        f = await c.get(f"{where}/file")
        assert f.status_code == 200 and f.headers["x-checksum-sha256"] == sha
        assert hashlib.sha256(f.content).hexdigest() == sha
        assert "attachment" in f.headers["content-disposition"]

        entries = await web.count("ledger", "SELECT count(*) FROM entry")
        upload = f"{where}/confirmations"
        # Maker-checker: its maker is told to hand the bank's answer to a colleague, and is
        # refused (in the same words) when the form is posted anyway.
        assert OWN_BATCH in page.text and 'id="upload"' not in page.text
        r = await c.post(
            upload,
            data={"csrf_token": csrf_of(page.text)},
            files={"file": ("bank.csv", _confirmation(f.content), "text/csv")},
        )
        assert r.status_code == 403 and OWN_BATCH in r.text, r.text
        assert await web.count("ledger", "SELECT count(*) FROM entry") == entries
    async with web.signed_in("finance2") as c:  # the checker
        page = await c.get(where)
        assert OWN_BATCH not in page.text and 'id="upload"' in page.text
        # the bank file's columns explained in Chinese, amounts in 分 said so
        assert "amount_fen：金额，单位是“分”" in page.text
        csrf = csrf_of(page.text)
        wrong = _confirmation(f.content).replace(b",paid,", b",paid,1")  # amount off
        for name, body, says in (
            ("bank.csv", wrong, "第 2 行：金额与付款明细不符（amount_fen 以分为单位"),
            ("bank.pdf", _confirmation(f.content), "CSV"),
            ("bank.csv", b"  ", "文件为空"),
        ):
            r = await c.post(
                upload, data={"csrf_token": csrf}, files={"file": (name, body, "text/csv")}
            )
            assert r.status_code == 422 and says in r.text, r.text
            assert "没有找到" not in r.text and "等待银行回单" in r.text
        # Reloading the refused upload's page (its address is the upload's) shows the batch.
        again = await c.get(upload, follow_redirects=True)
        assert again.status_code == 200 and "等待银行回单" in again.text, again.text
        huge = b"x" * (CommonSettings().max_upload_bytes + 1)  # refused unread, with a page
        r = await c.post(upload, data={"csrf_token": csrf}, files={"file": ("bank.csv", huge)})
        assert r.status_code == 413 and "太大" in r.text and "<html" in r.text
        assert await web.count("ledger", "SELECT count(*) FROM entry") == entries
        assert (
            await web.count("ledger", "SELECT count(*) FROM payment_line WHERE status <> 'pending'")
            == 0
        )

        good = _confirmation(f.content)
        r = await c.post(
            upload, data={"csrf_token": csrf}, files={"file": ("bank.csv", good, "text/csv")}
        )
        assert r.status_code == 200 and "已全部付款" in r.text
        assert 'id="result-paid">1<' in r.text
        assert await web.count("ledger", "SELECT count(*) FROM entry") == entries + 1
        r = await c.post(
            upload, data={"csrf_token": csrf}, files={"file": ("bank.csv", good, "text/csv")}
        )
        assert r.status_code == 200 and "这次没有入账任何一笔" in r.text
        assert await web.count("ledger", "SELECT count(*) FROM entry") == entries + 1
        listing = (await c.get("/finance/payments")).text
        assert f'data-batch="{batch_id}"' in listing and "已全部付款" in listing
        assert f'value="{claim["id"]}"' not in listing  # paid: no longer to pick
    assert (
        await web.count("ledger", f"SELECT status FROM claim WHERE id = '{claim['id']}'") == "paid"
    )
    async with web.signed_in("admin1") as c:
        html = (await c.get("/provider/statement")).text
    paid = re.search(r'id="st-payments">([\d,.]+)<', html).group(1)
    assert paid == f"{claim['total_fen'] // 100:,}.{claim['total_fen'] % 100:02d}"


async def test_payment_pages_refuse_other_roles_and_forged_forms(web):
    homes = {
        "laowang": "/me",
        "staff1": "/provider/redeem",
        "admin1": "/provider/admin",
        "officer": "/officer/enrol",
    }
    for username, home in homes.items():
        async with web.signed_in(username) as c:
            for path in FINANCE_PAGES:
                assert (await c.get(path)).status_code == 403, (username, path)
            token = csrf_of((await c.get(home)).text)
            r = await c.post(
                "/finance/payments",
                data={
                    "csrf_token": token,
                    "idempotency_key": str(uuid.uuid4()),
                    "include_cash": "1",
                },
            )
            assert r.status_code == 403
    claim = await _approved(web)
    async with web.signed_in("auditor") as c:  # reads, never pays
        page = await c.get("/finance/payments")
        assert page.status_code == 200 and 'id="new-batch"' not in page.text
        r = await c.post(
            "/finance/payments",
            data={
                "csrf_token": csrf_of(page.text),
                "idempotency_key": str(uuid.uuid4()),
                "claim_ids": [claim["id"]],
            },
        )
        assert r.status_code == 403
    batches = await web.count("ledger", "SELECT count(*) FROM payment_batch")
    async with web.signed_in("finance") as c:
        page = await c.get("/finance/payments")
        r = await c.post(
            "/finance/payments",
            data={
                "csrf_token": "forged",
                "idempotency_key": _hidden(page.text, "idempotency_key"),
                "claim_ids": [claim["id"]],
            },
        )
        assert r.status_code == 403
        assert await web.count("ledger", "SELECT count(*) FROM payment_batch") == batches
        r = await c.post(
            "/finance/payments",
            data={
                "csrf_token": csrf_of(page.text),
                "idempotency_key": _hidden(page.text, "idempotency_key"),
                "claim_ids": [claim["id"]],
            },
        )
        assert r.status_code == 303
        where = r.headers["location"]
        f = await c.get(f"{where}/file")
        r = await c.post(
            f"{where}/confirmations",
            data={"csrf_token": "forged"},
            files={"file": ("bank.csv", _confirmation(f.content), "text/csv")},
        )
        assert r.status_code == 403
        assert (await c.get("/finance/payments/not-a-batch")).status_code == 403
    assert (
        await web.count(
            "ledger",
            "SELECT count(*) FROM payment_line "
            "WHERE status = 'paid' AND claim_id = "
            f"'{claim['id']}'",
        )
        == 0
    )
    async with web.signed_in("finance_lz") as c:  # another city: not its batch
        page = await c.get(where)
        assert page.status_code == 404 and "没有找到这个付款批次" in page.text
        assert f"{where}" not in (await c.get("/finance/payments")).text


# --- statements and aging --------------------------------------------------------------------


async def test_statement_table_chart_and_files_for_the_own_provider_only(web):
    await web.add_account(
        username="admin_new", role="provider_admin", display_name="周主任", provider_id=web.p_new
    )
    await _redeem(web)
    await web.relay()
    async with web.signed_in("admin1") as c:
        page = await c.get("/provider/statement", params={"period": _month()})
        assert page.status_code == 200 and "svg" in page.text and "期末应付" in page.text
        closing = re.search(r'id="st-closing">([\d,.]+)<', page.text).group(1)
        f = await c.get("/provider/statement.csv", params={"period": _month()})
        rows = list(csv.DictReader(io.StringIO(f.content.decode("utf-8-sig"))))
        assert list(rows[0])[:4] == ["服务机构", "月份", "项目", "金额（元）"]
        closing_yuan = Decimal(next(r for r in rows if r["项目"] == "期末应付")["金额（元）"])
        assert f"{closing_yuan:,.2f}" == closing
        x = await c.get("/provider/statement.xlsx", params={"period": _month()})
        sheet = load_workbook(io.BytesIO(x.content)).active
        assert [c.value for c in sheet[1]][:3] == ["服务机构", "月份", "项目"]
        assert sheet.max_row == 1 + len(STATEMENT_ITEMS)  # header + one row per item
        assert [r["项目"] for r in rows] == [item for _, item in STATEMENT_ITEMS]
        bad = await c.get("/provider/statement", params={"period": "2026-13"})
        assert bad.status_code == 422 and "2026-11" in bad.text
        assert (
            await c.get("/provider/statement.pdf", params={"period": _month()})
        ).status_code == 422
        other = await c.get("/provider/statement", params={"provider_id": web.p_new})
        assert other.status_code == 403 and "只能查看本机构" in other.text
    async with web.signed_in("admin_new") as c:  # provider B cannot see A's statement
        for path in ("/provider/statement", "/provider/statement.csv"):
            r = await c.get(path, params={"provider_id": web.p1, "period": _month()})
            assert r.status_code == 403
        own = await c.get("/provider/statement")
        assert 'id="st-closing">0.00<' in own.text and "青秀区幸福助餐点" not in own.text
    async with web.signed_in("staff1") as c:
        assert (await c.get("/provider/statement")).status_code == 403
    async with web.signed_in("finance_lz") as c:  # finance of another city
        r = await c.get("/finance/statement", params={"provider_id": web.p1})
        assert r.status_code == 403 and "不在您负责的范围" in r.text


async def test_finance_reads_claims_of_every_state_by_tabs(web):
    """The claims page opens on those waiting for approval; a tab per state shows the rest
    (an approved claim with its state and no approve button), 全部 shows every claim."""
    claim = await _approved(web)
    async with web.signed_in("finance") as c:
        waiting = (await c.get("/finance/claims")).text
        assert f'data-claim="{claim["id"]}"' not in waiting
        assert 'href="/finance/claims?status=approved"' in waiting and "已审批，待付款" in waiting
        approved = (await c.get("/finance/claims", params={"status": "approved"})).text
        card = approved[approved.index(f'data-claim="{claim["id"]}"') :].split("</section>")[0]
        assert "状态：<strong>已审批，待付款</strong>" in card
        assert "/approve" not in card and "/reject" not in card
        everything = (await c.get("/finance/claims", params={"status": "all"})).text
        assert f'data-claim="{claim["id"]}"' in everything
        odd = await c.get("/finance/claims", params={"status": "<x>"})
        assert odd.status_code == 200 and "<x>" not in odd.text  # the waiting ones instead


async def test_finance_picks_a_provider_from_the_menu_to_read_its_statement(web):
    """机构对账单 is in the menu; without a provider it lists the region's providers (none of
    another city's), each opening its statement for the month; finance of another city sees
    only theirs."""
    async with web.signed_in("finance") as c:
        home = (await c.get("/finance")).text
        assert 'href="/finance/statement"' in home and "机构对账单" in home
        pick = await c.get("/finance/statement")
        assert pick.status_code == 200
        links = {
            name: href.replace("&amp;", "&")
            for href, name in re.findall(
                r'<a class="row-link" href="([^"]+)"><strong>([^<]+)</strong>', pick.text
            )
        }
        assert "青秀区幸福助餐点" in links
        assert web.p1 not in re.sub(r'href="[^"]*"', "", pick.text)  # ids only in links
        st = await c.get(links["青秀区幸福助餐点"])
        assert st.status_code == 200 and "期末应付" in st.text and "青秀区幸福助餐点" in st.text
        bad = await c.get("/finance/statement", params={"provider_id": "<x>"})
        assert bad.status_code == 422 and "<x>" not in bad.text
    async with web.signed_in("finance_lz") as c:  # another city's finance: its providers
        other = (await c.get("/finance/statement")).text
        assert f"provider_id={web.p_far}" in other and f"provider_id={web.p1}" not in other
    async with web.signed_in("auditor") as c:
        assert "青秀区幸福助餐点" in (await c.get("/finance/statement")).text


async def test_aging_per_provider_with_chart_and_files(web):
    claim = await _approved(web)
    async with web.signed_in("finance") as c:
        page = await c.get("/finance/aging")
        assert page.status_code == 200
        assert f'data-provider="{web.p1}"' in page.text and "青秀区幸福助餐点" in page.text
        assert page.text.count("<svg") == 2
        f = await c.get("/finance/aging.csv")
        rows = list(csv.DictReader(io.StringIO(f.content.decode("utf-8-sig"))))
        mine = next(r for r in rows if r["服务机构编号"] == web.p1)
        assert mine["服务机构"] == "青秀区幸福助餐点"
        assert Decimal(mine["30 天以内（元）"]) * 100 >= claim["total_fen"]
        total = next(r for r in rows if r["服务机构"] == "合计")
        assert Decimal(total["合计（元）"]) == sum(
            Decimal(r["合计（元）"]) for r in rows if r is not total
        )
        x = await c.get("/finance/aging.xlsx")
        assert load_workbook(io.BytesIO(x.content)).active.cell(1, 1).value == "服务机构"
        assert (await c.get("/finance/aging.pdf")).status_code == 422
    async with web.signed_in("finance_lz") as c:
        page = await c.get("/finance/aging")
        assert page.status_code == 200 and 'id="aging-empty"' in page.text


class _Counting(httpx.AsyncBaseTransport):
    """The real provider app, each request it answers counted."""

    def __init__(self, app) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)


async def test_provider_names_for_a_list_take_a_call_per_hundred_not_one_each(web, monkeypatch):
    monkeypatch.setattr(clients, "NAMES_PER_CALL", 2)
    counting = _Counting(web.provider_app)
    finance = web.tokens.token("finance", sub="test:finance", region=PROVINCE)
    client = clients.ProviderClient("http://provider", finance, transport=counting)
    unknown = str(uuid.uuid4())
    try:
        names = await client.names([web.p1, web.p_new, web.p_far, unknown, "not-an-id", ""])
    finally:
        await client.aclose()
    # Four ids that could be providers' at two a call: two calls to the register.
    assert counting.paths == ["/v1/providers", "/v1/providers"]
    listed = (await web.provider.get(f"/v1/providers/{web.p1}", headers=web.officer())).json()
    assert names[web.p1] == listed["name"]
    assert set(names) == {web.p1, web.p_new, web.p_far}
