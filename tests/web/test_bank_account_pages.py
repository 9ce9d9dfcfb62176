"""Provider bank account changes through the pages, against the real provider service
(in-process; tests/web/system.py): the provider admin asks, the page says it waits for the
civil-affairs department and shows where payments go now; an officer of the region approves
(the profile then shows the new account) or rejects with a reason. Wrong roles, another
region's officer, a second decision and requests without the CSRF token are refused, and
full account numbers never reach a page."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of
from tests.web.system import MEAL_POINT, OTHER_CITY

OLD_NUMBER = MEAL_POINT["bank_account"]["account_number"]


def _masked_tail(number: str) -> str:
    return number[-4:]


async def _profile(web) -> dict:
    r = await web.provider.get(f"/v1/providers/{web.p1}", headers=web.officer())
    assert r.status_code == 200, r.text
    return r.json()


async def _changes(web) -> list[dict]:
    r = await web.provider.get(
        f"/v1/providers/{web.p1}/bank-account-changes", headers=web.officer()
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _ask(web, number: str, bank: str = "广西北部湾银行南宁分行") -> dict:
    """The provider admin asks for a new account through the page; the pending change."""
    async with web.signed_in("admin1") as c:
        csrf = csrf_of((await c.get("/provider/admin")).text)
        r = await c.post(
            "/provider/admin/bank-account",
            data={
                "bank_name": bank,
                "account_name": "青秀区幸福助餐点",
                "account_number": number,
                "csrf_token": csrf,
            },
        )
        assert r.status_code == 303, r.text
        shown = await c.get("/provider/admin")
    assert shown.status_code == 200
    assert "已提交，等待民政部门审核" in shown.text
    assert number not in shown.text and OLD_NUMBER not in shown.text  # masked only
    pending = (await _profile(web))["bank_account_change_pending"]
    assert pending and pending["account_number_masked"].endswith(_masked_tail(number))
    assert pending["requested_by"] == "web:admin1"
    return pending


def _card(html: str, change_id: str) -> str:
    m = re.search(
        rf'<section class="card bank-change" data-change="{change_id}".*?</section>',
        html,
        re.DOTALL,
    )
    assert m, f"change {change_id} not listed"
    return m.group(0)


async def test_change_then_approve_through_the_pages(web):
    before = (await _profile(web))["bank_account"]
    number = "6228480012345678901"
    pending = await _ask(web, number)
    assert (await _profile(web))["bank_account"] == before  # not in effect yet
    async with web.signed_in("admin1") as c:
        page = (await c.get("/provider/admin")).text
        current = re.search(r'id="bank-current">([^<]+)<', page).group(1)
        assert before["account_number_masked"] in current  # where payments go now
        assert pending["account_number_masked"] in page

    async with web.signed_in("officer") as c:
        listing = await c.get("/officer/bank-accounts")
        assert listing.status_code == 200
        card = _card(listing.text, pending["id"])
        assert "青秀区幸福助餐点" in card and "孙主任" in card  # provider, who asked
        assert before["account_number_masked"] in card  # old → new, both masked
        assert pending["account_number_masked"] in card and number not in listing.text
        r = await c.post(
            f"/officer/bank-accounts/{web.p1}/{pending['id']}/approve",
            data={"csrf_token": csrf_of(listing.text)},
        )
        assert r.status_code == 303
        after = await c.get("/officer/bank-accounts")
        assert "已批准" in after.text and f'data-change="{pending["id"]}"' not in after.text
        # Deciding again: already decided, said plainly, nothing changes.
        r = await c.post(
            f"/officer/bank-accounts/{web.p1}/{pending['id']}/reject",
            data={"csrf_token": csrf_of(after.text), "reason": "再看看"},
        )
        again = await c.get("/officer/bank-accounts")
        assert "已经处理过了" in again.text

    now = await _profile(web)
    assert now["bank_account"]["account_number_masked"] == pending["account_number_masked"]
    assert now["bank_account"]["bank_name"] == "广西北部湾银行南宁分行"
    assert now["bank_account_change_pending"] is None
    assert (
        next(ch for ch in await _changes(web) if ch["id"] == pending["id"])["status"] == "approved"
    )
    async with web.signed_in("admin1") as c:
        page = (await c.get("/provider/admin")).text
        current = re.search(r'id="bank-current">([^<]+)<', page).group(1)
        assert pending["account_number_masked"] in current
        assert 'id="bank-pending"' not in page
        history = re.search(r'id="bank-history".*?</table>', page, re.DOTALL).group(0)
        assert "已批准" in history and "陈经办" in history


async def test_reject_needs_a_reason_and_keeps_the_account(web):
    before = (await _profile(web))["bank_account"]
    pending = await _ask(web, "6217000011112222333", bank="中国建设银行南宁分行")
    async with web.signed_in("officer") as c:
        listing = (await c.get("/officer/bank-accounts")).text
        url = f"/officer/bank-accounts/{web.p1}/{pending['id']}/reject"
        r = await c.post(url, data={"csrf_token": csrf_of(listing), "reason": "  "})
        assert r.status_code == 303
        page = (await c.get("/officer/bank-accounts")).text
        assert "请填写原因" in page
        assert (await _profile(web))["bank_account_change_pending"]["id"] == pending["id"]
        r = await c.post(
            url, data={"csrf_token": csrf_of(page), "reason": "开户证明与账户名称不符"}
        )
        assert r.status_code == 303
        assert "已驳回" in (await c.get("/officer/bank-accounts")).text
    assert (await _profile(web))["bank_account"] == before
    change = next(ch for ch in await _changes(web) if ch["id"] == pending["id"])
    assert change["status"] == "rejected" and change["reason"] == "开户证明与账户名称不符"
    async with web.signed_in("admin1") as c:
        page = (await c.get("/provider/admin")).text
        history = re.search(r'id="bank-history".*?</table>', page, re.DOTALL).group(0)
        assert "已驳回" in history and "开户证明与账户名称不符" in history


async def test_bad_account_number_is_refused_and_nothing_recorded(web):
    count = len(await _changes(web))
    async with web.signed_in("admin1") as c:
        csrf = csrf_of((await c.get("/provider/admin")).text)
        r = await c.post(
            "/provider/admin/bank-account",
            data={
                "bank_name": "某银行",
                "account_name": "某机构",
                "account_number": "12ab",
                "csrf_token": csrf,
            },
        )
        assert r.status_code == 422 and "8 到 30 位数字" in r.text
    assert len(await _changes(web)) == count


async def test_roles_other_region_and_csrf_are_refused(web):
    pending = await _ask(web, "6230580000123456789")
    await web.add_account(
        username="officer_lz", role="civil_affairs", display_name="柳州经办", region=OTHER_CITY
    )
    for who in ("laowang", "staff1", "admin1", "finance", "auditor"):
        async with web.signed_in(who) as c:
            assert (await c.get("/officer/bank-accounts")).status_code == 403, who
    async with web.signed_in("finance") as c:
        csrf = csrf_of((await c.get("/finance/claims")).text)
        r = await c.post(
            f"/officer/bank-accounts/{web.p1}/{pending['id']}/approve", data={"csrf_token": csrf}
        )
        assert r.status_code == 403
    for who in ("staff1", "officer"):  # only the provider's admin asks
        async with web.signed_in(who) as c:
            page = (
                await c.get("/provider/today" if who == "staff1" else "/officer/bank-accounts")
            ).text
            r = await c.post(
                "/provider/admin/bank-account",
                data={
                    "bank_name": "某银行",
                    "account_name": "某机构",
                    "account_number": "6222020000000000001",
                    "csrf_token": csrf_of(page),
                },
            )
            assert r.status_code == 403, who

    async with web.signed_in("officer_lz") as c:
        listing = await c.get("/officer/bank-accounts")
        assert listing.status_code == 200 and pending["id"] not in listing.text
        r = await c.post(
            f"/officer/bank-accounts/{web.p1}/{pending['id']}/approve",
            data={"csrf_token": csrf_of(listing.text)},
        )
        assert r.status_code == 303
        assert "不在您负责的区域" in (await c.get("/officer/bank-accounts")).text

    async with web.signed_in("officer") as c:  # the right officer, but no CSRF token
        await c.get("/officer/bank-accounts")
        r = await c.post(f"/officer/bank-accounts/{web.p1}/{pending['id']}/approve", data={})
        assert r.status_code == 403
    async with web.signed_in("admin1") as c:
        await c.get("/provider/admin")
        r = await c.post(
            "/provider/admin/bank-account",
            data={
                "bank_name": "某银行",
                "account_name": "某机构",
                "account_number": "6222020000000000001",
            },
        )
        assert r.status_code == 403
    still = (await _profile(web))["bank_account_change_pending"]
    assert still is not None and still["id"] == pending["id"]  # nobody decided, none added


async def test_the_person_who_asked_cannot_decide(web):
    """Someone who asked (here the same person signed in as the provider's admin through
    the API, then as an officer) is refused by the service; the page says why."""
    r = await web.provider.patch(
        f"/v1/providers/{web.p1}",
        headers=web.tokens.headers("provider_admin", sub="web:officer", provider_id=web.p1),
        json={
            "bank_account": {
                "bank_name": "中国农业银行南宁分行",
                "account_name": "青秀区幸福助餐点",
                "account_number": "6228480099998888777",
            }
        },
    )
    assert r.status_code == 200, r.text
    change = r.json()["bank_account_change_pending"]
    async with web.signed_in("officer") as c:
        listing = (await c.get("/officer/bank-accounts")).text
        assert "陈经办" in _card(listing, change["id"])  # who asked, by name
        await c.post(
            f"/officer/bank-accounts/{web.p1}/{change['id']}/approve",
            data={"csrf_token": csrf_of(listing)},
        )
        assert "提出这项变更的人不能自己审核" in (await c.get("/officer/bank-accounts")).text
    assert (await _profile(web))["bank_account_change_pending"]["id"] == change["id"]
