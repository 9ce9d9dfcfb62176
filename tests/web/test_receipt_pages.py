"""Receipts and disputes in the pages (issue 14, parts 2 and 6): the family's history links to
the printable receipt, which confirms or disputes; the provider prints its own receipts; the
officer's queue shows the deadline and the decision form; the appeal; wrong people refused.
One system for the module: each test makes its own redemption."""

from __future__ import annotations

import re
import uuid

from tests.web.conftest import csrf_of
from tests.web.test_pages import fresh_code


async def redeem(web, bid: str | None = None, items=None) -> str:
    bid = bid or web.b1
    r = await web.voucher.post(
        "/v1/redemptions",
        headers={"Authorization": f"Bearer {web.terminal_secret}"},
        json={
            "token": await fresh_code(web, bid),
            "items": items or [{"service_code": "BATH_HOME", "amount_fen": 4000}],
            "idempotency_key": f"receipt-page-{uuid.uuid4().hex}",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_the_family_sees_the_receipt_from_its_history_and_confirms(web):
    rid = await redeem(web)
    async with web.signed_in("laowang") as c:
        history = (await c.get("/me/history")).text
        assert f'href="/me/receipts/{rid}#review"' in history and "确认无误" in history
        page = await c.get(f"/me/receipts/{rid}")
        assert page.status_code == 200
        html = page.text
        assert "青秀区幸福助餐点" in html and "上门助浴" in html and "40.00" in html
        assert "确认无误" in html and "提交申诉" in html and "待确认" in html
        # the balance names its voucher's programme (a person may hold several)
        assert re.search(r"本次使用后“[^”]+”补贴券余额", html), html
        assert rid not in re.sub(r'(href|action)="[^"]*"', "", html)  # no raw ids shown
        done = await c.post(f"/me/receipts/{rid}/confirm", data={"csrf_token": csrf_of(html)})
        assert done.status_code == 303
        after = (await c.get(f"/me/receipts/{rid}")).text
        assert "已确认无误" in after and "确认无误</button>" not in after
        # Pressing again (Back, then the button) says so plainly and changes nothing.
        await c.post(f"/me/receipts/{rid}/confirm", data={"csrf_token": csrf_of(html)})
        again = (await c.get(f"/me/receipts/{rid}")).text
        assert "已经确认或申诉过了" in again
    n = await web.count(
        "voucher", f"SELECT count(*) FROM redemption_history WHERE redemption_id = '{rid}'"
    )
    assert n == 1


async def test_dispute_decision_and_appeal_through_the_pages(web):
    rid = await redeem(web)
    async with web.signed_in("xiaoli") as c:  # the proxy
        html = (await c.get(f"/me/receipts/{rid}")).text
        empty = await c.post(
            f"/me/receipts/{rid}/dispute", data={"csrf_token": csrf_of(html), "reason": "  "}
        )
        assert empty.status_code == 303
        assert "请写明哪里不对" in (await c.get(f"/me/receipts/{rid}")).text
        r = await c.post(
            f"/me/receipts/{rid}/dispute",
            data={"csrf_token": csrf_of(html), "reason": "护理员没有来"},
        )
        assert r.status_code == 303
        html = (await c.get(f"/me/receipts/{rid}")).text
        assert "申诉进度：待处理" in html and "护理员没有来" in html
    did = await web.count("voucher", f"SELECT id::text FROM dispute WHERE redemption_id = '{rid}'")

    async with web.signed_in("officer") as c:
        queue = (await c.get("/officer/disputes")).text
        assert f'href="/officer/disputes/{did}"' in queue and "按期处理中" in queue
        detail = (await c.get(f"/officer/disputes/{did}")).text
        assert "护理员没有来" in detail and "上门助浴" in detail and "40.00" in detail
        # who disputed: the account's name, never its login
        assert "web:" not in detail and "xiaoli" not in detail and "李女士" in detail
        no_choice = await c.post(
            f"/officer/disputes/{did}/decision",
            data={"csrf_token": csrf_of(detail), "reason": "x"},
        )
        assert no_choice.status_code == 303
        assert "请选择处理结论" in (await c.get(f"/officer/disputes/{did}")).text
        r = await c.post(
            f"/officer/disputes/{did}/decision",
            data={
                "csrf_token": csrf_of(detail),
                "decision": "rejected",
                "reason": "签到记录显示已上门",
            },
        )
        assert r.status_code == 303
        decided = (await c.get(f"/officer/disputes/{did}")).text
        assert "申诉不成立" in decided and 'id="decision-send"' not in decided

    async with web.signed_in("laowang") as c:
        html = (await c.get(f"/me/receipts/{rid}")).text
        assert "签到记录显示已上门" in html and "申请复核" in html
        r = await c.post(
            f"/me/disputes/{did}/appeal",
            data={"csrf_token": csrf_of(html), "reason": "确实没有来", "redemption_id": rid},
        )
        assert r.status_code == 303
        html = (await c.get(f"/me/receipts/{rid}")).text
        assert "复核申请已提交" in html and 'id="appeal-send"' not in html

    async with web.signed_in("officer") as c:
        detail = (await c.get(f"/officer/disputes/{did}")).text
        assert "复核结论" in detail and "确实没有来" in detail
        assert "这笔补贴会全部收回" in detail and 'id="receipt-recovery"' not in detail
        await c.post(
            f"/officer/disputes/{did}/decision",
            data={"csrf_token": csrf_of(detail), "decision": "upheld", "reason": "复核属实"},
        )
        # Upheld: the subsidy is taken back, and the page says where it went.
        done = (await c.get(f"/officer/disputes/{did}")).text
        assert "这笔补贴已收回，去向见下方收据" in done
        assert re.search(
            r'id="receipt-recovery">这笔补贴 [\d.,]+ 元已于 .* 收回：已退回补贴券', done
        )
        closed = (await c.get("/officer/disputes?status=closed")).text
        assert f"/officer/disputes/{did}" in closed
    recovered = await web.count(
        "voucher", f"SELECT count(*) FROM recovery WHERE redemption_id = '{rid}'"
    )
    assert recovered == 1
    async with web.signed_in("laowang") as c:  # the person reads it on the receipt
        html = (await c.get(f"/me/receipts/{rid}")).text
        assert "已退回补贴券，不再付给服务机构" in html


async def test_the_provider_prints_its_own_receipts_only(web):
    rid = await redeem(web)
    async with web.signed_in("staff1") as c:
        today = (await c.get("/provider/today")).text
        assert f'href="/provider/receipts/{rid}"' in today
        html = (await c.get(f"/provider/receipts/{rid}")).text
        assert "打印收据" in html and "上门助浴" in html and "/static/print.js" in html
        # A provider cannot confirm for the family.
        r = await c.post(f"/me/receipts/{rid}/confirm", data={"csrf_token": csrf_of(html)})
        assert r.status_code == 403
    async with web.signed_in("laowang") as c:
        assert (await c.get(f"/provider/receipts/{rid}")).status_code == 403
        assert (await c.get("/officer/disputes")).status_code == 403
    # Someone else's receipt: like an unknown one.
    other = await redeem(web, web.b3)
    async with web.signed_in("laowang") as c:
        r = await c.get(f"/me/receipts/{other}")
        assert r.status_code == 404 and "没有找到这笔交易" in r.text
        assert (await c.get("/me/receipts/not-an-id")).status_code == 404
    async with web.signed_in("finance") as c:
        assert (await c.get("/officer/disputes")).status_code == 403


async def test_confirm_straight_from_the_history(web):
    rid = await redeem(web)
    async with web.signed_in("laowang") as c:
        history = (await c.get("/me/history")).text
        r = await c.post(
            f"/me/receipts/{rid}/confirm", data={"csrf_token": csrf_of(history), "back": "history"}
        )
        assert r.status_code == 303 and r.headers["location"] == "/me/history"
        after = (await c.get("/me/history")).text
        assert "已确认这笔交易无误" in after
        card = re.search(
            rf'<section class="card[^"]*"[^>]*>(?:(?!</section>).)*?/me/receipts/{rid}(?:(?!</section>).)*</section>',
            after,
            re.S,
        ).group(0)
        assert "已确认无误" in card and "history-confirm" not in card
