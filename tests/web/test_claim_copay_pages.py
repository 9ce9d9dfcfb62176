"""The claims pages show a claim's two parts: a redemption with an online co-payment really
paid at localstripe, posted to the ledger by the relay, claimed by the provider admin through
the page; the provider's claims page, the claim's detail (with its co-payment line), finance's
approval page and detail, the statement and the aging show subsidy, co-payment and total in
yuan. Another provider, the staff and another region's finance cannot open the detail."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from services.voucher.clients import StripeGateway
from tests.settlement.stripe_process import KEY, LocalStripe, pay_in_browser
from tests.web.conftest import csrf_of
from tests.web.system import PROVINCE
from web.routes.provider import this_month


@pytest.fixture(scope="module")
def stripe_ls(tmp_path_factory) -> Iterator[LocalStripe]:
    ls = LocalStripe(tmp_path_factory.mktemp("localstripe") / "state.pickle")
    ls.start()
    yield ls
    ls.stop()


async def _paid_online(web, stripe_ls, while_owed=None) -> dict:
    """A 60-yuan bath for 王大爷 (half subsidy), its 30-yuan co-payment paid online and
    everything relayed to the ledger (`while_owed`, awaited before paying, looks in
    between)."""
    web.voucher_app.state.stripe_gateway = StripeGateway(KEY, stripe_ls.base)
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
            "gross_fen": 6_000,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 201, r.text
    red = r.json()
    assert red["copay_fen"] > 0
    staff = web.tokens.headers("provider_staff", sub="web:staff1", provider_id=web.p1)
    cp = await web.voucher.post(
        f"/v1/redemptions/{red['id']}/copayment", headers=staff, json={"method": "stripe"}
    )
    assert cp.status_code in (200, 201), cp.text
    if while_owed is not None:
        await while_owed(red)
    pay_in_browser(stripe_ls.base, cp.json()["client_secret"])
    synced = await web.voucher.post(f"/v1/copayments/{cp.json()['id']}/sync", headers=staff)
    assert synced.status_code == 200 and synced.json()["status"] == "succeeded", synced.text
    await web.relay()
    return red


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


async def test_claim_parts_on_every_page(web, stripe_ls):
    red = await _paid_online(web, stripe_ls)
    subsidy, copay = red["subsidy_fen"], red["copay_fen"]
    month = this_month()
    async with web.signed_in("admin1") as c:
        page = await c.get("/provider/claims", params={"period": month})
        assert re.search(r'id="claimable-subsidy">([\d,.]+)<', page.text).group(1) == _yuan(subsidy)
        assert re.search(r'id="claimable-copay">([\d,.]+)<', page.text).group(1) == _yuan(copay)
        key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
        r = await c.post(
            "/provider/claims",
            data={
                "period": month,
                "idempotency_key": key,
                "csrf_token": csrf_of(page.text),
                "sure": "1",
            },
        )
        assert r.status_code == 303, r.text
        listing = (await c.get("/provider/claims", params={"period": month})).text
        claim_id = re.search(r'data-claim="([0-9a-f-]{36})"', listing).group(1)
        row = re.search(rf'data-claim="{claim_id}".*?</p>', listing, re.DOTALL).group(0)
        assert f'claim-subsidy">{_yuan(subsidy)}<' in row
        assert f'claim-copay">{_yuan(copay)}<' in row
        assert f'claim-total">{_yuan(subsidy + copay)}<' in row
        detail = await c.get(f"/provider/claims/{claim_id}")
        assert detail.status_code == 200
        assert f'id="claim-subsidy">{_yuan(subsidy)} 元' in detail.text
        assert f'id="claim-copay">{_yuan(copay)} 元' in detail.text
        assert f'id="claim-total">{_yuan(subsidy + copay)} 元' in detail.text
        lines = re.search(r'id="claim-copays".*?</ul>', detail.text, re.DOTALL).group(0)
        assert "收到自付款" in lines and f"尾号 {red['id'][-8:]}" in lines and _yuan(copay) in lines
        st = (await c.get("/provider/statement", params={"period": month})).text
        received = re.search(r'id="st-copay_received">([\d,.]+)<', st).group(1)
        assert received == _yuan(copay)
        assert 'id="st-copay_closing"' in st and 'id="st-copay_refunded"' in st

    async with web.signed_in("finance") as c:
        page = (await c.get("/finance/claims")).text
        card = re.search(rf'data-claim="{claim_id}".*?</section>', page, re.DOTALL).group(0)
        assert f'claim-subsidy">{_yuan(subsidy)}<' in card
        assert f'claim-copay">{_yuan(copay)}<' in card
        assert f'claim-total">{_yuan(subsidy + copay)}<' in card
        detail = await c.get(f"/finance/claims/{claim_id}")
        assert detail.status_code == 200 and "收到自付款" in detail.text
    # approved by another finance officer: the aging shows the co-payment part
    r = await web.ledger.post(
        f"/v1/claims/{claim_id}/approve",
        json={},
        headers=web.tokens.headers("finance", sub="test:checker", region=PROVINCE),
    )
    assert r.status_code == 200, r.text
    async with web.signed_in("finance2") as c:
        aging = (await c.get("/finance/aging")).text
        row = re.search(rf'data-provider="{web.p1}".*?</tr>', aging, re.DOTALL).group(0)
        assert f'aging-copay">{_yuan(copay)}<' in row
        f = await c.get("/finance/aging.csv")
        rows = list(csv.DictReader(io.StringIO(f.content.decode("utf-8-sig"))))
        mine = next(r for r in rows if r["服务机构编号"] == web.p1)
        assert Decimal(mine["其中自付部分（元）"]) * 100 == copay

    await web.add_account(
        username="admin_other",
        role="provider_admin",
        display_name="周主任",
        provider_id=web.p_new,
    )
    # another provider's admin is told there is no such claim (the ledger does not say
    # whose it is); wrong roles and another region are refused
    for who, url, status in (
        ("admin_other", f"/provider/claims/{claim_id}", 404),
        ("staff1", f"/provider/claims/{claim_id}", 403),
        ("finance_lz", f"/finance/claims/{claim_id}", 403),
        ("admin1", f"/finance/claims/{claim_id}", 403),
    ):
        async with web.signed_in(who) as c:
            r = await c.get(url)
            assert r.status_code == status, (who, r.status_code)
            assert _yuan(subsidy + copay) + " 元" not in r.text
    async with web.signed_in("admin1") as c:
        assert (await c.get("/provider/claims/not-a-claim")).status_code == 404


async def test_the_elders_page_says_what_is_owed_online_until_it_is_paid(web, stripe_ls):
    """A co-payment the family is to pay online is said on the person's first page, with the
    way to pay it; once paid, it is gone from there."""

    async def owed(red: dict) -> None:
        async with web.signed_in("xiaoli") as c:  # the daughter, who acts for 王大爷
            home = (await c.get("/me")).text
            banner = re.search(r'id="copay-due-banner".*?</section>', home, re.DOTALL).group(0)
            assert f"<strong>{_yuan(red['copay_fen'])}</strong> 元" in banner, banner
            assert 'href="/me/copay"' in banner

    await _paid_online(web, stripe_ls, while_owed=owed)
    async with web.signed_in("xiaoli") as c:
        assert 'id="copay-due-banner"' not in (await c.get("/me")).text
