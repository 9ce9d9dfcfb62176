"""Terminals: issued by the provider's own admin, secret shown once and stored hashed."""

import asyncio
import hashlib

import pytest

from services.common.auth import terminal_id_of


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


async def test_admin_issues_lists_and_revokes_a_terminal(ctx):
    pid = await ctx.approved()
    admin = ctx.admin(pid)
    r = await ctx.c.post(
        f"/v1/providers/{pid}/terminals", json={"name": "前台1号机"}, headers=admin
    )
    assert r.status_code == 201, r.text
    issued = r.json()
    assert terminal_id_of(issued["secret"]) == issued["terminal_id"]
    stored = await ctx.fetchval(
        "SELECT secret_sha256 FROM terminal WHERE id = $1::uuid", issued["terminal_id"]
    )
    assert stored == hashlib.sha256(issued["secret"].encode()).hexdigest()

    r = await ctx.c.get(f"/v1/providers/{pid}/terminals", headers=admin)
    assert r.status_code == 200
    [listed] = r.json()["items"]
    assert listed["status"] == "active" and listed["name"] == "前台1号机"
    assert issued["secret"] not in r.text and stored not in r.text

    r = await ctx.c.post(
        f"/v1/providers/{pid}/terminals/{issued['terminal_id']}/revoke", headers=admin
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert r.json()["revoked_at"]
    r = await ctx.c.post(
        f"/v1/providers/{pid}/terminals/{issued['terminal_id']}/revoke", headers=admin
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "TERMINAL_ALREADY_REVOKED"


async def test_a_provider_admin_cannot_create_terminals_for_another_provider(ctx):
    mine = await ctx.approved()
    theirs = await ctx.approved()
    before = await ctx.counts()
    r = await ctx.c.post(
        f"/v1/providers/{theirs}/terminals", json={"name": "x"}, headers=ctx.admin(mine)
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await ctx.c.get(f"/v1/providers/{theirs}/terminals", headers=ctx.admin(mine))
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROVIDER_NOT_FOUND"
    assert await ctx.counts() == before


async def test_a_provider_admin_cannot_revoke_another_providers_terminal(ctx):
    mine = await ctx.approved()
    theirs = await ctx.approved()
    r = await ctx.c.post(
        f"/v1/providers/{theirs}/terminals", json={"name": "x"}, headers=ctx.admin(theirs)
    )
    tid = r.json()["terminal_id"]
    before = await ctx.counts()
    # Through someone else's provider: the terminal is not found there.
    r = await ctx.c.post(f"/v1/providers/{mine}/terminals/{tid}/revoke", headers=ctx.admin(mine))
    assert r.status_code == 404 and r.json()["error"]["code"] == "TERMINAL_NOT_FOUND"
    r = await ctx.c.post(f"/v1/providers/{theirs}/terminals/{tid}/revoke", headers=ctx.admin(mine))
    assert r.status_code == 403
    assert await ctx.counts() == before


async def test_other_roles_cannot_issue_terminals(ctx, tokens):
    pid = await ctx.approved()
    before = await ctx.counts()
    for headers in (
        ctx.officer,
        tokens.headers("provider_staff", provider_id=pid),
        tokens.headers("service"),
    ):
        r = await ctx.c.post(f"/v1/providers/{pid}/terminals", json={"name": "x"}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await ctx.c.post(
        f"/v1/providers/{pid}/terminals", json={"name": ""}, headers=ctx.admin(pid)
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    assert await ctx.counts() == before


async def test_an_officer_of_the_region_may_revoke_a_terminal(ctx, tokens):
    pid = await ctx.approved()
    tid = (
        await ctx.c.post(
            f"/v1/providers/{pid}/terminals", json={"name": "x"}, headers=ctx.admin(pid)
        )
    ).json()["terminal_id"]
    r = await ctx.c.post(
        f"/v1/providers/{pid}/terminals/{tid}/revoke",
        headers=tokens.headers("civil_affairs", region="450200"),
    )
    assert r.status_code == 403
    r = await ctx.c.post(f"/v1/providers/{pid}/terminals/{tid}/revoke", headers=ctx.officer)
    assert r.status_code == 200


async def test_a_revoked_provider_gets_no_new_terminals(ctx):
    pid = await ctx.approved()
    await ctx.c.post(f"/v1/providers/{pid}/revoke", json={"reason": "x"}, headers=ctx.officer)
    r = await ctx.c.post(
        f"/v1/providers/{pid}/terminals", json={"name": "x"}, headers=ctx.admin(pid)
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "PROVIDER_REVOKED"


async def test_a_terminal_signs_in_with_its_secret_and_reads_only_its_provider(ctx):
    pid = await ctx.approved()
    other = await ctx.apply()  # not approved: not public
    issued = (
        await ctx.c.post(
            f"/v1/providers/{pid}/terminals", json={"name": "x"}, headers=ctx.admin(pid)
        )
    ).json()
    as_terminal = {"Authorization": f"Bearer {issued['secret']}"}
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=as_terminal)
    assert r.status_code == 200 and r.json()["services"]
    r = await ctx.c.get(f"/v1/providers/{other}", headers=as_terminal)
    assert r.status_code == 404
    r = await ctx.c.post(f"/v1/providers/{pid}/terminals", json={"name": "y"}, headers=as_terminal)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"

    forged = issued["secret"][:-2] + ("AA" if not issued["secret"].endswith("AA") else "BB")
    r = await ctx.c.get(f"/v1/providers/{pid}", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_TERMINAL"
    r = await ctx.c.get(
        f"/v1/providers/{pid}", headers={"Authorization": "Bearer yyt_not-a-uuid.secret"}
    )
    assert r.status_code == 401

    await ctx.c.post(
        f"/v1/providers/{pid}/terminals/{issued['terminal_id']}/revoke", headers=ctx.admin(pid)
    )
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=as_terminal)
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_TERMINAL"


async def test_admin_renames_a_terminal_and_the_feed_shows_it(ctx):
    pid = await ctx.approved()
    other = await ctx.approved()
    tid = (
        await ctx.c.post(
            f"/v1/providers/{pid}/terminals", json={"name": "旧名"}, headers=ctx.admin(pid)
        )
    ).json()["terminal_id"]
    v = (await ctx.c.get("/v1/internal/directory", headers=ctx.service)).json()["version"]
    before = await ctx.counts()
    r = await ctx.c.patch(
        f"/v1/providers/{pid}/terminals/{tid}", json={"name": "x"}, headers=ctx.admin(other)
    )
    assert r.status_code == 403
    r = await ctx.c.patch(
        f"/v1/providers/{pid}/terminals/{tid}", json={"name": " "}, headers=ctx.admin(pid)
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    assert await ctx.counts() == before
    r = await ctx.c.patch(
        f"/v1/providers/{pid}/terminals/{tid}", json={"name": "收银台2号"}, headers=ctx.admin(pid)
    )
    assert r.status_code == 200 and r.json()["name"] == "收银台2号"
    feed = (
        await ctx.c.get("/v1/internal/directory", params={"since": v}, headers=ctx.service)
    ).json()
    assert [(t["id"], t["name"]) for t in feed["terminals"]] == [(tid, "收银台2号")]


async def test_terminal_routes_refuse_other_roles(ctx, tokens):
    pid = await ctx.approved()
    tid = (
        await ctx.c.post(
            f"/v1/providers/{pid}/terminals", json={"name": "x"}, headers=ctx.admin(pid)
        )
    ).json()["terminal_id"]
    before = await ctx.counts()
    for role in ("beneficiary", "finance", "auditor", "service"):
        headers = tokens.headers(role, region="450000", provider_id=pid)
        for method, path, body in [
            ("GET", f"/v1/providers/{pid}/terminals", None),
            ("PATCH", f"/v1/providers/{pid}/terminals/{tid}", {"name": "y"}),
            ("POST", f"/v1/providers/{pid}/terminals/{tid}/revoke", None),
        ]:
            r = await ctx.c.request(method, path, json=body, headers=headers)
            assert r.status_code == 403, (role, method, path)
            assert r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    # Staff may see the terminals but not manage them.
    staff = tokens.headers("provider_staff", provider_id=pid)
    assert (await ctx.c.get(f"/v1/providers/{pid}/terminals", headers=staff)).status_code == 200
    r = await ctx.c.post(f"/v1/providers/{pid}/terminals/{tid}/revoke", headers=staff)
    assert r.status_code == 403
    assert await ctx.counts() == before


async def test_a_terminal_issued_twice_under_one_key_is_one_terminal_with_one_secret(ctx):
    """A double press or a lost answer: the same Idempotency-Key and name answer the same
    terminal and secret (200, replayed) and issue nothing; another name under the key is
    409; the secret is held sealed, never in clear, and not past its window (the provider's
    next issuance clears the lapsed copy); a revoked terminal's repeat says so; keys are
    per caller."""
    pid = await ctx.approved()
    admin = {**ctx.admin(pid), "Idempotency-Key": "form-7f3a"}
    url = f"/v1/providers/{pid}/terminals"
    first = await ctx.c.post(url, json={"name": "前台1号机"}, headers=admin)
    assert first.status_code == 201, first.text
    again = await ctx.c.post(url, json={"name": "前台1号机"}, headers=admin)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    issued = first.json()
    count = "SELECT count(*) FROM terminal WHERE provider_id = $1::uuid"
    assert await ctx.fetchval(count, pid) == 1
    sealed = await ctx.fetchval(
        "SELECT secret_sealed FROM terminal WHERE id = $1::uuid", issued["terminal_id"]
    )
    assert sealed and issued["secret"].encode() not in sealed
    # the same key with another request
    other = await ctx.c.post(url, json={"name": "后厨2号机"}, headers=admin)
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # another caller's key of the same text is its own
    someone = {
        **ctx.tokens.headers("provider_admin", provider_id=pid, sub=f"admin2:{pid}"),
        "Idempotency-Key": "form-7f3a",
    }
    theirs = await ctx.c.post(url, json={"name": "前台1号机"}, headers=someone)
    assert theirs.status_code == 201 and theirs.json()["terminal_id"] != issued["terminal_id"]
    assert await ctx.fetchval(count, pid) == 2
    # past its window the secret is not answered again, and the next issuance clears it
    await ctx.fetchval(
        "UPDATE terminal SET secret_until = now() - interval '1 second' WHERE id = $1::uuid",
        issued["terminal_id"],
    )
    late = await ctx.c.post(url, json={"name": "前台1号机"}, headers=admin)
    assert late.status_code == 409 and late.json()["error"]["code"] == "TERMINAL_SECRET_GONE"
    assert issued["secret"] not in late.text
    assert await ctx.fetchval(count, pid) == 2
    # a repeat of a terminal revoked meanwhile: said, not answered; revoking clears the copy
    key = {**ctx.admin(pid), "Idempotency-Key": "form-8b21"}
    third = (await ctx.c.post(url, json={"name": "备用机"}, headers=key)).json()
    assert await ctx.fetchval(  # (the lapsed copy went with this issuance)
        "SELECT secret_sealed IS NULL FROM terminal WHERE id = $1::uuid", issued["terminal_id"]
    )
    r = await ctx.c.post(f"{url}/{third['terminal_id']}/revoke", headers=ctx.admin(pid))
    assert r.status_code == 200
    assert await ctx.fetchval(
        "SELECT secret_sealed IS NULL FROM terminal WHERE id = $1::uuid", third["terminal_id"]
    )
    r = await ctx.c.post(url, json={"name": "备用机"}, headers=key)
    assert r.status_code == 409 and r.json()["error"]["code"] == "TERMINAL_ALREADY_REVOKED"
    for bad in ("", " ", "k" * 201):
        r = await ctx.c.post(
            url, json={"name": "x"}, headers={**ctx.admin(pid), "Idempotency-Key": bad}
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert await ctx.fetchval(count, pid) == 3


async def test_racing_requests_under_one_key_issue_one_terminal(ctx):
    """Eight presses at once on their own connections: the provider's row lock orders them,
    one terminal is issued and every answer names it with the same secret."""
    pid = await ctx.approved()
    headers = {**ctx.admin(pid), "Idempotency-Key": "race-1"}
    answers = await asyncio.gather(
        *(
            ctx.c.post(f"/v1/providers/{pid}/terminals", json={"name": "前台"}, headers=headers)
            for _ in range(8)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.text for a in answers]
    assert len({(a.json()["terminal_id"], a.json()["secret"]) for a in answers}) == 1
    assert (
        await ctx.fetchval("SELECT count(*) FROM terminal WHERE provider_id = $1::uuid", pid) == 1
    )
