"""The officer's anomaly pages against the real services (tests/web/system.py): the queue,
an alert's evidence timeline with the server-drawn plot of places and their straight-line
distance, the decision (a reason is required, the CSRF token too; other roles are refused),
what a confirmation started (recoveries, credit event), the rule thresholds page (a change
is saved as a new version with the reason; bad values are refused in plain words), and the
provider's statement listing recoveries."""

from __future__ import annotations

import re

from tests.web.alert_seed import FAR_NAME, seed_alert
from tests.web.conftest import csrf_of


async def test_queue_detail_and_confirm(web):
    alert_id, reds = await seed_alert(web)
    async with web.signed_in("officer") as c:
        queue = await c.get("/officer/alerts")
        assert queue.status_code == 200
        assert f'data-alert="{alert_id}"' in queue.text
        assert "同一老人短时间内在相距过远的两家机构消费" in queue.text
        detail = await c.get(f"/officer/alerts/{alert_id}")
        assert detail.status_code == 200
        html = detail.text
        assert "<svg" in html and "北↑" in html
        km = re.findall(r'class="distance">([0-9.]+) 公里<', html)
        assert km and 33.0 < float(km[0]) < 35.0  # straight line, drawn by the server
        assert FAR_NAME in html and "青秀区幸福助餐点" in html
        assert html.index(reds[0]["id"]) < html.index(reds[1]["id"])  # timeline in order
        assert "两地距离超过：20 公里" in html
        csrf = csrf_of(html)

        # No CSRF token, no reason, no decision: nothing happens.
        r = await c.post(f"/officer/alerts/{alert_id}/decision", data={"decision": "confirm"})
        assert r.status_code == 403
        r = await c.post(
            f"/officer/alerts/{alert_id}/decision",
            data={"decision": "confirm", "reason": " ", "csrf_token": csrf},
        )
        assert r.status_code == 303
        assert "请填写处理理由" in (await c.get(f"/officer/alerts/{alert_id}")).text
        r = await c.post(
            f"/officer/alerts/{alert_id}/decision",
            data={"decision": "confirm", "reason": "核实为代刷卡", "csrf_token": csrf},
        )
        assert r.status_code == 303
        done = await c.get(f"/officer/alerts/{alert_id}")
        assert "已确认违规：已记入机构信用记录" in done.text
        assert 'id="recoveries"' in done.text and "退回老人补贴券" in done.text
        assert 'id="decision"' not in done.text  # decided: no form any more
        # Reload after the decision: the same page, nothing decided twice.
        again = await c.get(f"/officer/alerts/{alert_id}")
        assert again.status_code == 200 and "核实为代刷卡" in again.text
        confirmed = await c.get("/officer/alerts?status=confirmed")
        assert f'data-alert="{alert_id}"' in confirmed.text
    credit = (
        await web.provider.get(f"/v1/providers/{web.p1}/credit", headers=web.officer())
    ).json()
    assert any(alert_id in e["reason"] for e in credit["events"])
    assert await web.count("voucher", "SELECT count(*) FROM recovery") >= 2

    # The provider's statement shows the recoveries once the ledger has them.
    await web.relay()
    async with web.signed_in("admin1") as c:
        st = await c.get("/provider/statement")
        assert st.status_code == 200
        assert "本期追回违规补贴" in st.text
        amount = re.search(r'id="st-recoveries">([^<]+)<', st.text).group(1)
        assert amount != "0.00"
        assert 'id="recoveries"' in st.text and "核实为代刷卡" in st.text


async def test_other_roles_are_refused(web):
    alert_id, _ = await seed_alert(web)
    async with web.signed_in("finance") as c:
        assert (await c.get("/officer/alerts")).status_code == 403
        assert (await c.get(f"/officer/alerts/{alert_id}")).status_code == 403
        assert (await c.get("/officer/anomaly-rules")).status_code == 403
    async with web.signed_in("officer") as c:
        r = await c.get("/officer/alerts/00000000-0000-0000-0000-000000000000")
        assert r.status_code == 404 and "没有找到这条预警" in r.text


async def test_rule_thresholds_page(web):
    async with web.signed_in("officer") as c:
        page = await c.get("/officer/anomaly-rules")
        assert page.status_code == 200
        assert 'id="rule-terminal_burst"' in page.text and "使用系统默认值" in page.text
        csrf = csrf_of(page.text)
        bad = await c.post(
            "/officer/anomaly-rules/terminal_burst",
            data={
                "csrf_token": csrf,
                "enabled": "on",
                "t_max_elders": "0",
                "t_window_minutes": "10",
                "reason": "试一试",
                "expected_version": "0",
            },
        )
        assert bad.status_code == 422 and "阈值超出允许范围" in bad.text
        r = await c.post(
            "/officer/anomaly-rules/terminal_burst",
            data={
                "csrf_token": csrf,
                "enabled": "on",
                "t_max_elders": "6",
                "t_window_minutes": "15",
                "reason": "本区机构规模较小",
                "expected_version": "0",
            },
        )
        assert r.status_code == 303, r.text
        after = await c.get("/officer/anomaly-rules")
        assert "已保存" in after.text
        card = re.search(r'id="rule-terminal_burst".*?</section>', after.text, re.DOTALL).group(0)
        assert "本区域单独设置（第 1 版）" in card and 'value="6"' in card
        history = re.search(r'id="rule-history".*?</table>', after.text, re.DOTALL).group(0)
        assert "服务老人数上限 10 → 6" in history and "本区机构规模较小" in history
        # The same form again (version 0 edited): someone changed it meanwhile.
        stale = await c.post(
            "/officer/anomaly-rules/terminal_burst",
            data={
                "csrf_token": csrf,
                "t_max_elders": "7",
                "t_window_minutes": "15",
                "reason": "再改",
                "expected_version": "0",
            },
        )
        assert stale.status_code == 409 and "刚被别人修改过" in stale.text


def test_every_rules_threshold_has_a_chinese_name():
    """The rules page names each threshold in Chinese with its unit: none of any rule falls
    back to its English key (min_overlap_minutes once did)."""
    from services.voucher.service.anomaly_rules import RULES
    from web.routes.alerts import THRESHOLD_NAMES

    keys = {name for spec in RULES.values() for name in spec.defaults}
    assert keys - set(THRESHOLD_NAMES) == set()
    assert all(label and unit for label, unit in THRESHOLD_NAMES.values())
