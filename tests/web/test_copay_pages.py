"""The co-payment pages against the real services in-process and a real localstripe: the
staff choose cash or online on the redeem result; the family sees what is due, the pay page
loads Stripe.js from settings with a CSP that lets exactly it in, and the return step
records the payment (by sync) once. CSRF, wrong role and another person are refused."""

from __future__ import annotations

import re

from services.voucher.clients import StripeGateway
from tests.settlement.stripe_process import KEY, pay_in_browser
from tests.web.conftest import csrf_of
from tests.web.test_pages import _confirm, _preview


async def _redeemed(web, c) -> str:
    token, preview = await _preview(web, c, "60")
    _, done = await _confirm(c, token, preview)
    assert done.status_code == 200 and 'id="copay-choice"' in done.text, done.text
    return re.search(r'action="/provider/redemptions/([^/]+)/copayment"', done.text).group(1)


async def test_staff_choose_and_family_pays_online(web, stripe_ls):
    web.voucher_app.state.stripe_gateway = StripeGateway(KEY, stripe_ls.base)
    async with web.signed_in("staff1") as staff:
        rid = await _redeemed(web, staff)
        page = (await staff.get("/provider/today")).text
        csrf = csrf_of(page)
        r = await staff.post(f"/provider/redemptions/{rid}/copayment", data={"method": "stripe"})
        assert r.status_code == 403  # no CSRF token
        r = await staff.post(
            f"/provider/redemptions/{rid}/copayment", data={"method": "card", "csrf_token": csrf}
        )
        assert r.status_code == 422
        r = await staff.post(
            f"/provider/redemptions/{rid}/copayment", data={"method": "stripe", "csrf_token": csrf}
        )
        assert r.status_code == 200 and "已请家属在线支付" in r.text, r.text
        r = await staff.post(
            f"/provider/redemptions/{rid}/copayment", data={"method": "cash", "csrf_token": csrf}
        )
        assert r.status_code == 409 and "没有办成" in r.text
        assert (await staff.get("/me/copay")).status_code == 403  # not a family page

    async with web.signed_in("laowang") as me:
        due = await me.get("/me/copay")
        assert due.status_code == 200 and "待支付的自付部分" in due.text
        ids = re.findall(r'href="/me/copay/([0-9a-f-]{36})"', due.text)
        assert len(ids) == 1 and "青秀区幸福助餐点" in due.text and "上门助浴" in due.text
        pay = await me.get(f"/me/copay/{ids[0]}")
        assert pay.status_code == 200
        csp = pay.headers["content-security-policy"]
        assert "script-src 'self' http://127.0.0.1:8420" in csp  # the settings' Stripe.js
        assert '<script src="http://127.0.0.1:8420/js.stripe.com/v3/"></script>' in pay.text
        assert 'data-publishable-key="pk_test_yiyang_local"' in pay.text
        secret = re.search(r'data-client-secret="([^"]+)"', pay.text).group(1)
        assert "sk_" not in pay.text
        before = await web.count(
            "voucher", "SELECT count(*) FROM outbox WHERE type = 'copay.received'"
        )
        pay_in_browser(stripe_ls.base, secret)  # what Stripe.js does on that page
        for _ in range(2):  # the return step, reloaded
            done = await me.get(f"/me/copay/{ids[0]}/done")
            assert done.status_code == 200 and "已支付" in done.text, done.text
        assert (
            await web.count("voucher", "SELECT count(*) FROM outbox WHERE type = 'copay.received'")
            == before + 1
        )
        assert 'id="copay-none"' in (await me.get("/me/copay")).text
        again = await me.get(f"/me/copay/{ids[0]}")  # paid: straight to the result
        assert again.status_code == 303 and again.headers["location"].endswith("/done")

        # the result leads to the receipt of what was paid for
        receipt = re.search(r'id="receipt-link" href="([^"]+)"', done.text).group(1)
        assert (await me.get(receipt)).status_code == 200

    async with web.signed_in("xiaoli") as proxy:  # the proxy acts for 王大爷 too
        done = await proxy.get(f"/me/copay/{ids[0]}/done")
        assert done.status_code == 200 and 'id="whose"' in done.text  # for whom, said
    async with web.signed_in("officer") as officer:
        assert (await officer.get("/me/copay")).status_code == 403


async def test_cash_is_recorded_at_the_counter(web):
    async with web.signed_in("staff1") as staff:
        rid = await _redeemed(web, staff)
        csrf = csrf_of((await staff.get("/provider/today")).text)
        r = await staff.post(
            f"/provider/redemptions/{rid}/copayment", data={"method": "cash", "csrf_token": csrf}
        )
        assert r.status_code == 200 and "已记录现金收款" in r.text and "30.00" in r.text
    assert (
        await web.count("voucher", f"SELECT status FROM copayment WHERE redemption_id = '{rid}'")
        == "succeeded"
    )
