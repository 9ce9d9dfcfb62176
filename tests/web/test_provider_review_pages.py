"""The review pages without a browser: the officer sends an application back with a reason,
the provider's admin reads it on 资质申请, uploads a licence and resubmits, the officer sees and
downloads the licence and approves; each page offers only the steps the status allows, and
another provider's admin cannot read the licence."""

from __future__ import annotations

import uuid

from tests.web.conftest import csrf_of
from tests.web.system import DISTRICT, MEAL_POINT, _uscc

PDF = b"%PDF-1.4\n%%EOF\n"


async def _applied(web, name: str) -> str:
    r = await web.provider.post(
        "/v1/providers",
        headers=web.officer(DISTRICT),
        json={**MEAL_POINT, "name": name, "uscc": _uscc(uuid.uuid4().int % 10**6)},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _card(html: str, pid: str) -> str:
    start = html.index(f'id="p-{pid}"')
    return html[start : html.index("</section>", start)]


async def test_send_back_resubmit_with_a_licence_and_approve(web):
    pid = await _applied(web, "青秀区康乐助餐点")
    other = await _applied(web, "青秀区别家助餐点")
    await web.add_account(
        username="kangle", role="provider_admin", display_name="康主任", provider_id=pid
    )
    await web.add_account(
        username="biejia", role="provider_admin", display_name="别主任", provider_id=other
    )
    async with web.signed_in("officer") as officer:
        page = await officer.get("/officer/providers", params={"status": "applied"})
        card = _card(page.text, pid)
        actions = [a.split('"')[0] for a in card.split('data-action="')[1:]]
        assert actions == ["approve", "request-changes", "refuse"]
        assert "还没有上传证照" in card
        token = csrf_of(page.text)
        r = await officer.post(
            f"/officer/providers/{pid}/request-changes",
            data={"csrf_token": token, "reason": "", "view": "applied"},
        )
        assert r.status_code == 422 and await web.provider_status(pid) == "applied"
        r = await officer.post(
            f"/officer/providers/{pid}/request-changes",
            data={"csrf_token": token, "reason": "请上传食品经营许可证", "view": "applied"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/officer/providers?status=applied"
        assert await web.provider_status(pid) == "changes_requested"
        back = await officer.get("/officer/providers", params={"status": "changes_requested"})
        card = _card(back.text, pid)
        assert "退回补正" in card and "请上传食品经营许可证" in card
        assert [a.split('"')[0] for a in card.split('data-action="')[1:]] == ["refuse", "resubmit"]

    async with web.signed_in("kangle") as admin:
        page = await admin.get("/provider/application")
        assert page.status_code == 200
        assert "请上传食品经营许可证" in page.text and 'id="resubmit"' in page.text
        token = csrf_of(page.text)
        r = await admin.post(
            "/provider/application/documents",
            data={"csrf_token": token, "kind": "food_licence"},
            files={"file": ("许可证.pdf", b"GIF89a not a pdf", "application/pdf")},
        )
        assert r.status_code == 303
        assert "只能是 PDF、JPG 或 PNG" in (await admin.get("/provider/application")).text
        r = await admin.post(
            "/provider/application/documents",
            data={"csrf_token": token, "kind": "food_licence"},
            files={"file": ("许可证.pdf", PDF, "application/pdf")},
        )
        assert r.status_code == 303
        page = await admin.get("/provider/application")
        assert "证照已上传" in page.text and "食品经营许可证：许可证.pdf" in page.text
        r = await admin.post(
            "/provider/application/resubmit", data={"csrf_token": token, "reason": "已补充"}
        )
        assert r.status_code == 303 and await web.provider_status(pid) == "applied"
        page = await admin.get("/provider/application")
        assert "已重新提交" in page.text and 'id="resubmit"' not in page.text
        doc_id = page.text.split("/provider/application/documents/")[1].split('"')[0]
        r = await admin.get(f"/provider/application/documents/{doc_id}")
        assert r.status_code == 200 and r.content == PDF

    async with web.signed_in("biejia") as stranger:  # another provider's admin
        r = await stranger.get(f"/provider/application/documents/{doc_id}")
        assert r.status_code == 404 and PDF not in r.content

    async with web.signed_in("officer") as officer:
        page = await officer.get("/officer/providers", params={"status": "applied"})
        card = _card(page.text, pid)
        assert "食品经营许可证：许可证.pdf" in card
        r = await officer.get(f"/officer/providers/{pid}/documents/{doc_id}")
        assert r.status_code == 200 and r.content == PDF
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment")
        r = await officer.post(
            f"/officer/providers/{pid}/approve",
            data={"csrf_token": csrf_of(page.text), "reason": "材料齐全"},
        )
        assert r.status_code == 303 and await web.provider_status(pid) == "approved"
        # the officer refuses the other application: final, no step left on its card
        r = await officer.post(
            f"/officer/providers/{other}/refuse",
            data={"csrf_token": csrf_of(page.text), "reason": "不符合设置条件", "view": "refused"},
        )
        assert r.status_code == 303 and await web.provider_status(other) == "refused"
        page = await officer.get("/officer/providers", params={"status": "refused"})
        card = _card(page.text, other)
        assert "不予批准的原因" in card and "data-action" not in card
