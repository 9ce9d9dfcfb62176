"""Cards, proxies and provider credit events from the officer's pages (issue 15, parts 5
and 6), against the real services: a card issued from the person's page and its PIN letter
shown once (post/redirect/get, the PIN in no URL); the cashier redeems with the card's code
and PIN, wrong PINs say how many tries are left, the fifth locks the card and the officer
unlocks it; a reprint stops the old card; a proxy granted and revoked (the revoked one no
longer sees the person); a provider's credit events with Chinese labels, Beijing times and
CSV/XLSX. Another region's officer and other roles are refused."""

from __future__ import annotations

import csv
import io
import re
import uuid

from tests.web.conftest import at_confirm, csrf_of, sent_back
from tests.web.system import OTHER_CITY


def _hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


def _wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 1_000_000:06d}"


async def _other_officer(web) -> None:
    if not getattr(web, "_lz_officer", False):
        await web.add_account(
            username="officer_lz", role="civil_affairs", display_name="柳州经办", region=OTHER_CITY
        )
        web._lz_officer = True


async def _issue(c, bid: str) -> tuple[str, str, str]:
    """Issue (or reprint) from the person's page; the letter's address, code and PIN."""
    page = await c.get(f"/officer/people/{bid}")
    assert page.status_code == 200
    r = await c.post(
        f"/officer/people/{bid}/cards",
        data={"csrf_token": csrf_of(page.text), "current": _hidden(page.text, "current")},
    )
    assert r.status_code == 303, r.text
    letter_url = r.headers["location"]
    assert re.fullmatch(rf"/officer/people/{bid}/cards/[0-9a-f-]{{36}}/letter", letter_url)
    letter = await c.get(letter_url)
    assert letter.status_code == 200, letter.text
    pin = re.search(r'id="pin">(\d{6})<', letter.text).group(1)
    code = "".join(re.findall(r"<span>([A-Z2-7]+)</span>", letter.text))
    assert len(code) > 100
    assert "@page" not in letter.text  # the print rules are in the stylesheet (CSP)
    return letter_url, code, pin


async def _preview(c, token: str, pin: str):
    form = await c.get("/provider/redeem")
    return await c.post(
        "/provider/redeem",
        follow_redirects=True,
        data={"csrf_token": csrf_of(form.text), "token": token, "pin": pin, "qty_MEAL_LUNCH": "1"},
    )


async def test_card_letter_once_cashier_redeems_with_pin_and_locks_then_unlock(web):
    async with web.signed_in("officer") as c:
        person = await c.get(f"/officer/people/{web.b1}")
        assert 'id="issue-card"' in person.text and "没有发过卡" in person.text
        letter_url, code, pin = await _issue(c, web.b1)
        assert pin not in letter_url and code not in letter_url
        # shown once: the reload says it is gone, and shows neither PIN nor code
        again = await c.get(letter_url)
        assert again.status_code == 410 and "只显示一次" in again.text
        assert pin not in again.text and code[:20] not in again.text
        # the button pressed twice (the page's `current` is stale): no second card
        r = await c.post(
            f"/officer/people/{web.b1}/cards",
            data={"csrf_token": csrf_of(person.text), "current": "none"},
        )
        assert r.status_code == 303 and r.headers["location"].endswith("#cards")
        cards = (
            await web.voucher.get(f"/v1/beneficiaries/{web.b1}/cards", headers=web.officer())
        ).json()
        assert [c_["status"] for c_ in cards] == ["active"]

    before = await web.balance(web.b1, "meal_assistance")
    async with web.signed_in("staff1") as c:
        # typed as printed, in groups of five with spaces
        typed = " ".join(code[i : i + 5] for i in range(0, len(code), 5))
        form = await c.get("/provider/redeem")
        r = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={"csrf_token": csrf_of(form.text), "token": typed, "qty_MEAL_LUNCH": "1"},
        )
        assert sent_back(r) and "6 位卡密码" in r.text
        preview = await _preview(c, typed, pin)
        assert at_confirm(preview), preview.text
        data = {
            "csrf_token": csrf_of(preview.text),
            "token": code,
            "bill": _hidden(preview.text, "bill"),
            "gross_fen": _hidden(preview.text, "gross_fen"),
            "idempotency_key": _hidden(preview.text, "idempotency_key"),
            "sealed_pin": _hidden(preview.text, "sealed_pin"),
        }
        assert pin not in preview.text  # the confirm page carries it sealed
        assert pin not in str(preview.url)  # and the confirm step's address holds no PIN
        assert pin not in (c.cookies.get("yiyang_bill", path="/provider/redeem/confirm") or pin)
        done = await c.post("/provider/redeem/confirm", data=data)
        assert done.status_code == 303 and pin not in done.headers["location"]
        assert (await c.post("/provider/redeem/confirm", data=data)).status_code == 303  # twice
        assert await web.balance(web.b1, "meal_assistance") < before
        spent = await web.balance(web.b1, "meal_assistance")
        # a second bill with the same card is a new redemption, not a replay of the first
        preview2 = await _preview(c, code, pin)
        assert _hidden(preview2.text, "idempotency_key") != data["idempotency_key"]
        # wrong PINs: the attempts left, then locked
        for left in (4, 3, 2, 1):
            r = await _preview(c, code, _wrong(pin))
            assert sent_back(r) and f"还可以再试 {left} 次" in r.text, r.text
        r = await _preview(c, code, _wrong(pin))
        assert sent_back(r) and "已锁定" in r.text
        r = await _preview(c, code, pin)
        assert sent_back(r) and "已锁定" in r.text
        assert await web.balance(web.b1, "meal_assistance") == spent

    async with web.signed_in("officer") as c:
        page = await c.get(f"/officer/people/{web.b1}")
        assert "已锁定" in page.text and 'id="unlock-card"' in page.text
        card_id = re.search(r"/cards/([0-9a-f-]{36})/unlock", page.text).group(1)
        r = await c.post(
            f"/officer/people/{web.b1}/cards/{card_id}/unlock",
            data={"csrf_token": csrf_of(page.text)},
        )
        assert r.status_code == 303
        page = await c.get(f"/officer/people/{web.b1}")
        assert "老人卡已解锁" in page.text and 'id="unlock-card"' not in page.text
        again = await c.post(
            f"/officer/people/{web.b1}/cards/{card_id}/unlock",
            data={"csrf_token": csrf_of(page.text)},
        )
        assert again.status_code == 303  # Back + resubmit: told it is not locked
    async with web.signed_in("staff1") as c:
        assert at_confirm(await _preview(c, code, pin))

    # a reprint: the old card stops working, the new one works
    async with web.signed_in("officer") as c:
        _, new_code, new_pin = await _issue(c, web.b1)
    async with web.signed_in("staff1") as c:
        r = await _preview(c, code, pin)
        assert sent_back(r) and "挂失或无效" in r.text
        assert at_confirm(await _preview(c, new_code, new_pin))


async def test_cards_are_refused_to_other_roles_and_regions(web):
    await _other_officer(web)
    async with web.signed_in("officer") as c:
        page = await c.get(f"/officer/people/{web.b2}")
        letter_url, _, _ = await _issue(c, web.b2)
    card_id = letter_url.split("/")[-2]
    async with web.signed_in("officer_lz") as c:
        r = await c.get(f"/officer/people/{web.b2}")
        assert r.status_code == 404
        home = await c.get("/officer/people")
        r = await c.post(
            f"/officer/people/{web.b2}/cards",
            data={"csrf_token": csrf_of(home.text), "current": card_id},
        )
        assert r.status_code == 404
        r = await c.post(
            f"/officer/people/{web.b2}/cards/{card_id}/unlock",
            data={"csrf_token": csrf_of(home.text)},
        )
        assert r.status_code == 404
        assert (await c.get(letter_url)).status_code == 404
    async with web.signed_in("staff1") as c:
        form = await c.get("/provider/redeem")
        r = await c.post(
            f"/officer/people/{web.b2}/cards",
            data={"csrf_token": csrf_of(form.text), "current": card_id},
        )
        assert r.status_code == 403
        assert (await c.get(letter_url)).status_code == 403
    async with web.signed_in("officer") as c:
        # no CSRF token: refused, nothing issued
        r = await c.post(f"/officer/people/{web.b2}/cards", data={"current": card_id})
        assert r.status_code == 403
    cards = (
        await web.voucher.get(f"/v1/beneficiaries/{web.b2}/cards", headers=web.officer())
    ).json()
    assert [c_["status"] for c_ in cards] == ["active"]
    assert page.status_code == 200


async def test_proxy_granted_and_revoked_from_the_persons_page(web):
    await web.add_account(
        username="jiashu2", role="proxy", display_name="王小明", beneficiary_ids=[web.b3]
    )
    proxy_headers = web.tokens.headers("proxy", sub="web:jiashu2", beneficiary_ids=[web.b3])
    before = await web.voucher.get(f"/v1/beneficiaries/{web.b3}/vouchers", headers=proxy_headers)
    assert before.status_code in (403, 404)  # an account alone is no authorisation
    async with web.signed_in("officer") as c:
        page = await c.get(f"/officer/people/{web.b3}")
        form = {
            "csrf_token": csrf_of(page.text),
            "account": "nobody",
            "name": "王小明",
            "relation": "子女",
            "phone": "13877100001",
        }
        r = await c.post(f"/officer/people/{web.b3}/proxies", data=form, follow_redirects=True)
        assert "没有这个家属账号" in r.text
        r = await c.post(
            f"/officer/people/{web.b3}/proxies",
            data={**form, "account": "laowang"},  # an elder's own account, not a family one
            follow_redirects=True,
        )
        assert "没有这个家属账号" in r.text
        form["account"] = "jiashu2"
        r = await c.post(f"/officer/people/{web.b3}/proxies", data=form, follow_redirects=True)
        assert "已授权 王小明 代办" in r.text and "13877100001" not in r.text
        r = await c.post(f"/officer/people/{web.b3}/proxies", data=form, follow_redirects=True)
        assert "已经有代办授权" in r.text  # resubmitted: granted once
    proxies = (
        await web.voucher.get(f"/v1/beneficiaries/{web.b3}/proxies", headers=web.officer())
    ).json()
    mine = [p for p in proxies if p["proxy_sub"] == "web:jiashu2"]
    assert [p["status"] for p in mine] == ["active"]
    seen = await web.voucher.get(f"/v1/beneficiaries/{web.b3}/vouchers", headers=proxy_headers)
    assert seen.status_code == 200 and seen.json()
    async with web.signed_in("jiashu2") as c:
        me = await c.get("/me")
        assert me.status_code == 200 and "余额" in me.text

    await _other_officer(web)
    async with web.signed_in("officer_lz") as c:
        home = await c.get("/officer/people")
        r = await c.post(
            f"/officer/people/{web.b3}/proxies/{mine[0]['id']}/revoke",
            data={"csrf_token": csrf_of(home.text)},
        )
        assert r.status_code == 404
    async with web.signed_in("officer") as c:
        page = await c.get(f"/officer/people/{web.b3}")
        r = await c.post(
            f"/officer/people/{web.b3}/proxies/{mine[0]['id']}/revoke",
            data={"csrf_token": csrf_of(page.text)},
            follow_redirects=True,
        )
        assert "已终止 王小明 的代办授权" in r.text
    seen = await web.voucher.get(f"/v1/beneficiaries/{web.b3}/vouchers", headers=proxy_headers)
    assert seen.status_code == 403 and seen.json()["error"]["code"] == "OUT_OF_SCOPE"
    async with web.signed_in("jiashu2") as c:
        me = await c.get("/me")
        assert "余额" not in me.text and "不在您负责的范围内" in me.text


async def test_provider_credit_events_page_and_exports(web):
    alert_id = str(uuid.uuid4())
    by_web = web.tokens.headers("civil_affairs", sub="web:officer", region="450103")
    for headers, kind, points, reason in (
        (web.officer(), "warning", 1, "服务记录不全"),
        (by_web, "violation", 2, f"异常预警经核实（同一时段多笔核销，预警 {alert_id}）"),
    ):
        r = await web.provider.post(
            f"/v1/providers/{web.p1}/credit-events",
            headers=headers,
            json={"kind": kind, "points": points, "reason": reason},
        )
        assert r.status_code == 201, r.text
    async with web.signed_in("officer") as c:
        listing = await c.get("/officer/providers", params={"status": "all"})
        assert f"/officer/providers/{web.p1}/credit" in listing.text
        r = await c.get(f"/officer/providers/{web.p1}/credit")
        assert r.status_code == 200
        assert "警示" in r.text and "违规" in r.text and "异常预警核实" in r.text
        assert "陈经办" in r.text  # the officer's name, not their login
        assert alert_id not in r.text.replace(f"/officer/alerts/{alert_id}", "")
        assert f"尾号 {alert_id[-8:]}" in r.text
        assert "warning" not in r.text and "violation" not in r.text
        assert "T" not in re.search(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", r.text).group(0)
        csv_r = await c.get(f"/officer/providers/{web.p1}/credit/export", params={"format": "csv"})
        assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["记录时间（北京时间）", "类别", "扣分"]
        assert {row[1] for row in rows[1:]} >= {"警示", "违规"}
        xlsx = await c.get(f"/officer/providers/{web.p1}/credit/export", params={"format": "xlsx"})
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    await _other_officer(web)
    async with web.signed_in("officer_lz") as c:
        assert (await c.get(f"/officer/providers/{web.p1}/credit")).status_code == 404
        r = await c.get(f"/officer/providers/{web.p1}/credit/export", params={"format": "csv"})
        assert r.status_code == 404
    async with web.signed_in("staff1") as c:
        assert (await c.get(f"/officer/providers/{web.p1}/credit")).status_code == 403
