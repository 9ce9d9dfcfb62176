"""The review of an application: approve, ask for changes (the provider resubmits), refuse;
every step from every status, who may take it; and the licence documents kept with it."""

from __future__ import annotations

import uuid

import pytest

from services.provider.service import review_rules
from services.provider.service.vocabulary import ProviderStatus

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@pytest.fixture(scope="module")
def provider_settings():
    return {"document_max_bytes": 1024, "document_max_count": 3}


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


# How to bring a fresh application to each status (officer's steps, the admin resubmits).
PATHS: dict[str, list[str]] = {
    "applied": [],
    "changes_requested": ["request-changes"],
    "approved": ["approve"],
    "suspended": ["approve", "suspend"],
    "revoked": ["approve", "revoke"],
    "refused": ["refuse"],
}
EXPECTED = {  # (status, action) -> the status it leads to; anything else is refused
    ("applied", "approve"): "approved",
    ("applied", "request-changes"): "changes_requested",
    ("applied", "refuse"): "refused",
    ("changes_requested", "resubmit"): "applied",
    ("changes_requested", "refuse"): "refused",
    ("approved", "suspend"): "suspended",
    ("approved", "revoke"): "revoked",
    ("suspended", "approve"): "approved",
    ("suspended", "revoke"): "revoked",
}


async def _step(ctx, pid: str, action: str, headers=None, reason: str | None = "原因"):
    body = {} if reason is None else {"reason": reason}
    return await ctx.c.post(
        f"/v1/providers/{pid}/{action}", json=body, headers=headers or ctx.officer
    )


async def _at(ctx, status: str) -> str:
    pid = await ctx.apply()
    for action in PATHS[status]:
        r = await _step(ctx, pid, action)
        assert r.status_code == 200, (status, action, r.text)
    return pid


def test_the_rules_agree_with_the_table():
    for status in ProviderStatus:
        for action in review_rules.STEPS:
            expected = EXPECTED.get((status.value, action))
            assert review_rules.is_allowed(status, action) == (expected is not None)
    assert review_rules.allowed_actions("applied", officer=True) == [
        "approve",
        "request-changes",
        "refuse",
    ]
    assert review_rules.allowed_actions("changes_requested", officer=False) == ["resubmit"]
    assert review_rules.allowed_actions("applied", officer=False) == []
    assert review_rules.allowed_actions("refused", officer=True) == []


@pytest.mark.parametrize("status", list(PATHS))
async def test_every_step_from_every_status(ctx, status):
    """Each allowed step leads where the table says, kept in the history with its reason;
    every other step is 409 ILLEGAL_TRANSITION and changes nothing."""
    for action in review_rules.STEPS:
        pid = await _at(ctx, status)
        target = EXPECTED.get((status, action))
        headers = ctx.admin(pid) if action == "resubmit" else ctx.officer
        before = await ctx.counts()
        r = await _step(ctx, pid, action, headers, reason=f"{action}的原因")
        if target is None:
            assert r.status_code == 409, (status, action, r.text)
            assert r.json()["error"]["code"] == "ILLEGAL_TRANSITION"
            assert r.json()["error"]["details"]["from"] == status
            assert await ctx.counts() == before
            continue
        assert r.status_code == 200, (status, action, r.text)
        assert r.json() == {"id": pid, "status": target, "previous_status": status}
        history = (await ctx.c.get(f"/v1/providers/{pid}/history", headers=ctx.officer)).json()
        last = history["items"][-1]
        assert (last["from_status"], last["to_status"], last["reason"]) == (
            status,
            target,
            f"{action}的原因",
        )


async def test_ask_for_changes_then_resubmit_then_approve(ctx):
    """The provider reads the officer's reason and the steps it may take, edits its
    application, resubmits (a note is optional), and the officer approves."""
    pid = await ctx.apply()
    admin = ctx.admin(pid)
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=ctx.officer)
    assert r.json()["actions"] == ["approve", "request-changes", "refuse"]
    r = await _step(ctx, pid, "request-changes", reason="请补充食品经营许可证")
    assert r.status_code == 200
    mine = (await ctx.c.get(f"/v1/providers/{pid}", headers=admin)).json()
    assert mine["status"] == "changes_requested"
    assert mine["status_reason"] == "请补充食品经营许可证"
    assert mine["actions"] == ["resubmit"]
    # the officer's register shows the same reason; the officer may refuse, or resubmit on
    # the provider's behalf
    reg = (await ctx.c.get("/v1/providers?status=changes_requested", headers=ctx.officer)).json()
    entry = next(e for e in reg["items"] if e["id"] == pid)
    assert entry["status_reason"] == "请补充食品经营许可证"
    assert entry["actions"] == ["refuse", "resubmit"]
    # the admin may still edit a sent-back application
    r = await ctx.c.patch(f"/v1/providers/{pid}", json={"address": "新地址1号"}, headers=admin)
    assert r.status_code == 200, r.text
    r = await _step(ctx, pid, "resubmit", admin, reason=None)
    assert r.status_code == 200 and r.json()["status"] == "applied"
    history = (await ctx.c.get(f"/v1/providers/{pid}/history", headers=admin)).json()["items"]
    assert history[-1]["reason"] == review_rules.RESUBMIT_REASON
    assert history[-1]["actor"] == f"admin:{pid}"
    r = await _step(ctx, pid, "approve", reason="材料齐全")
    assert r.status_code == 200 and r.json()["status"] == "approved"


async def test_a_refused_application_is_final(ctx):
    pid = await _at(ctx, "refused")
    admin = ctx.admin(pid)
    before = await ctx.counts()
    r = await ctx.c.patch(f"/v1/providers/{pid}", json={"address": "x路1号"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "APPLICATION_REFUSED"
    r = await ctx.c.post(f"/v1/providers/{pid}/terminals", json={"name": "t"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "APPLICATION_REFUSED"
    r = await _upload(ctx, pid, admin, PDF)
    assert r.status_code == 409 and r.json()["error"]["code"] == "APPLICATION_REFUSED"
    assert await ctx.counts() == before


async def test_wrong_role_and_wrong_region_are_refused(ctx, tokens):
    pid = await _at(ctx, "applied")
    sent_back = await _at(ctx, "changes_requested")
    before = await ctx.counts()
    liuzhou = tokens.headers("civil_affairs", region="450200", sub="o:lz")
    for action in ("request-changes", "refuse", "approve"):
        r = await _step(ctx, pid, action, liuzhou)
        assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await _step(ctx, sent_back, "resubmit", liuzhou)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    # the provider's own admin only resubmits; it never approves, refuses or sends back
    for action in ("request-changes", "refuse", "approve"):
        r = await _step(ctx, pid, action, ctx.admin(pid))
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    # another provider's admin cannot resubmit this one
    r = await _step(ctx, sent_back, "resubmit", ctx.admin(str(uuid.uuid4())))
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    for role in ("provider_staff", "finance", "auditor", "beneficiary", "service"):
        headers = tokens.headers(role, region="450000", provider_id=sent_back)
        for action in ("request-changes", "refuse", "resubmit"):
            r = await _step(ctx, sent_back, action, headers)
            assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    # a reason is required of the officer
    r = await _step(ctx, pid, "refuse", reason="  ")
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    assert await ctx.counts() == before
    # the officer of the region may resubmit on the provider's behalf
    r = await _step(ctx, sent_back, "resubmit", reason="代为提交：已补充材料")
    assert r.status_code == 200 and r.json()["status"] == "applied"


async def test_the_database_refuses_a_refused_application_coming_back(ctx):
    import asyncpg

    from services.common.db import asyncpg_connect_kwargs

    pid = await _at(ctx, "refused")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ctx.owner_url))
    try:
        for status in ("applied", "approved", "changes_requested"):
            with pytest.raises(asyncpg.PostgresError, match="ILLEGAL_TRANSITION"):
                await conn.execute(
                    "UPDATE provider SET status = $2 WHERE id = $1::uuid", pid, status
                )
    finally:
        await conn.close()


# --- licence documents -------------------------------------------------------------------


async def _upload(ctx, pid, headers, content, *, name="营业执照.pdf", kind="business_licence"):
    return await ctx.c.post(
        f"/v1/providers/{pid}/documents",
        data={"kind": kind},
        files={"file": (name, content, "application/pdf")},
        headers=headers,
    )


async def _documents(ctx) -> int:
    return await ctx.fetchval("SELECT count(*) FROM provider_document")


async def test_a_good_document_is_kept_and_read_back_by_the_provider_and_the_officer(ctx):
    pid = await ctx.apply()
    admin = ctx.admin(pid)
    r = await _upload(ctx, pid, admin, PDF, name="../../etc/营业执照.PDF")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["content_type"] == "application/pdf" and doc["size_bytes"] == len(PDF)
    assert doc["filename"] == "营业执照.pdf" and doc["kind"] == "business_licence"
    # a PNG named .pdf is kept as what it is; an officer uploads on the provider's behalf
    r = await _upload(ctx, pid, ctx.officer, PNG, name="food.pdf", kind="food_licence")
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    assert r.json()["filename"] == "food.png" and r.json()["uploaded_by"] == "officer:nn"
    for headers in (admin, ctx.officer):
        listing = (await ctx.c.get(f"/v1/providers/{pid}/documents", headers=headers)).json()
        assert [d["kind"] for d in listing["items"]] == ["business_licence", "food_licence"]
        r = await ctx.c.get(f"/v1/providers/{pid}/documents/{doc['id']}", headers=headers)
        assert r.status_code == 200 and r.content == PDF
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_a_document_of_the_wrong_type_or_too_big_is_refused(ctx):
    pid = await ctx.apply()
    admin = ctx.admin(pid)
    before = await _documents(ctx)
    for content in (b"MZ\x90\x00 an exe named .pdf", b"<html>%PDF-</html>", b""):
        r = await _upload(ctx, pid, admin, content)
        assert r.status_code == 415, r.text
        assert r.json()["error"]["code"] == "DOCUMENT_TYPE_NOT_ALLOWED"
    r = await _upload(ctx, pid, admin, PDF + b"0" * 1024)
    assert r.status_code == 413 and r.json()["error"]["code"] == "DOCUMENT_TOO_LARGE"
    r = await _upload(ctx, pid, admin, PDF, kind="passport")
    assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await _documents(ctx) == before
    for content in (PDF, JPEG, PNG):  # the limit is 3 a provider (settings above)
        assert (await _upload(ctx, pid, admin, content)).status_code == 201
    r = await _upload(ctx, pid, admin, PDF)
    assert r.status_code == 409 and r.json()["error"]["code"] == "DOCUMENT_LIMIT_REACHED"
    assert await _documents(ctx) == before + 3


async def test_documents_are_only_for_the_provider_and_the_officers_of_its_region(ctx, tokens):
    pid = await ctx.apply()
    doc = (await _upload(ctx, pid, ctx.admin(pid), PDF)).json()
    other = await ctx.apply()
    before = await _documents(ctx)
    outsiders = {
        "another provider's admin": ctx.admin(other),
        "officer of Liuzhou": tokens.headers("civil_affairs", region="450200", sub="o:lz"),
    }
    for who, headers in outsiders.items():
        for path in (f"/documents/{doc['id']}", "/documents"):
            theirs = await ctx.c.get(f"/v1/providers/{pid}{path}", headers=headers)
            nobodys = await ctx.c.get(f"/v1/providers/{uuid.uuid4()}{path}", headers=headers)
            assert theirs.status_code == 404, (who, path)
            assert theirs.json() == nobodys.json(), (who, path)
            assert theirs.json()["error"]["code"] == "PROVIDER_NOT_FOUND"
        r = await _upload(ctx, pid, headers, PDF)
        assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE", who
    # another provider's document id under this provider is not found
    theirs = (await _upload(ctx, other, ctx.admin(other), PDF)).json()
    r = await ctx.c.get(f"/v1/providers/{pid}/documents/{theirs['id']}", headers=ctx.admin(pid))
    assert r.status_code == 404 and r.json()["error"]["code"] == "DOCUMENT_NOT_FOUND"
    r = await ctx.c.get(f"/v1/providers/{pid}/documents/not-an-id", headers=ctx.admin(pid))
    assert r.status_code == 404 and r.json()["error"]["code"] == "DOCUMENT_NOT_FOUND"
    for role in ("provider_staff", "finance", "auditor", "beneficiary", "service"):
        headers = tokens.headers(role, region="450000", provider_id=pid)
        r = await ctx.c.get(f"/v1/providers/{pid}/documents/{doc['id']}", headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED", role
        r = await _upload(ctx, pid, headers, PDF)
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED", role
    assert await _documents(ctx) == before + 1


async def test_racing_uploads_never_pass_the_limit(ctx):
    """The count is taken under the provider's row lock: of four uploads racing for the last
    place, exactly one is kept."""
    import asyncio

    pid = await ctx.apply()
    admin = ctx.admin(pid)
    for _ in range(2):
        assert (await _upload(ctx, pid, admin, PDF)).status_code == 201
    results = await asyncio.gather(*[_upload(ctx, pid, admin, PNG) for _ in range(4)])
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    count = await ctx.fetchval(
        "SELECT count(*) FROM provider_document WHERE provider_id = $1::uuid", pid
    )
    assert count == 3


async def test_an_upload_without_a_file_or_a_kind_is_refused(ctx):
    pid = await ctx.apply()
    admin = ctx.admin(pid)
    before = await _documents(ctx)
    r = await ctx.c.post(
        f"/v1/providers/{pid}/documents", data={"kind": "business_licence"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await ctx.c.post(
        f"/v1/providers/{pid}/documents",
        files={"file": ("a.pdf", PDF, "application/pdf")},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await _documents(ctx) == before
