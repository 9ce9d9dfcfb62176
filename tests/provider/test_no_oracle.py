"""A provider's private parts (status history, change log, credit record, bank account
changes, terminals) are read within scope; to an officer or finance of another city, or
another provider's people, the provider answers exactly what an id no provider has answers
(404 PROVIDER_NOT_FOUND, the same body), so no answer tells who applied where. A role that
never reads them is refused first (403), whatever the id."""

from __future__ import annotations

import uuid

import pytest

READS = [
    "/v1/providers/{id}",  # an application is not public
    "/v1/providers/{id}/history",
    "/v1/providers/{id}/changes",
    "/v1/providers/{id}/credit",
    "/v1/providers/{id}/bank-account-changes",
]


@pytest.mark.parametrize("approve", [False, True], ids=["applied", "approved"])
async def test_outside_scope_a_provider_reads_like_an_unknown_id(ctx, tokens, approve):
    pid = await (ctx.approved() if approve else ctx.apply())  # in Nanning
    before = await ctx.counts()
    outsiders = {
        "officer of Liuzhou": tokens.headers("civil_affairs", region="450200", sub="o:lz"),
        "finance of Liuzhou": tokens.headers("finance", region="450200", sub="f:lz"),
        "another provider's admin": ctx.admin(str(uuid.uuid4())),
        "another provider's staff": tokens.headers("provider_staff", provider_id="p-x"),
    }
    for who, headers in outsiders.items():
        for template in [*READS, "/v1/providers/{id}/terminals"]:
            if template.endswith("/terminals") and who.startswith("finance"):
                continue  # finance does not read terminals at all (a role: 403)
            if template == "/v1/providers/{id}" and approve:
                continue  # an approved provider's profile is public
            theirs = await ctx.c.get(template.format(id=pid), headers=headers)
            nobodys = await ctx.c.get(template.format(id=uuid.uuid4()), headers=headers)
            assert nobodys.status_code == 404, (who, template, nobodys.text)
            assert nobodys.json()["error"]["code"] == "PROVIDER_NOT_FOUND"
            assert (theirs.status_code, theirs.json()) == (404, nobodys.json()), (who, template)
    # the region's officer reads them all
    for template in [*READS, "/v1/providers/{id}/terminals"]:
        r = await ctx.c.get(template.format(id=pid), headers=ctx.officer)
        assert r.status_code == 200, (template, r.text)
    assert await ctx.counts() == before


async def test_a_role_that_never_reads_private_parts_is_403_whatever_the_id(ctx, tokens):
    pid = await ctx.approved()
    elder = tokens.headers("beneficiary", sub="b1")
    for template in READS[1:]:
        for target in (pid, uuid.uuid4()):
            r = await ctx.c.get(template.format(id=target), headers=elder)
            assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
