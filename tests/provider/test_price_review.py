"""A price list that raises what public money pays waits for an officer (service/
price_review.py): cheaper lists apply at once; a dearer or new item, a higher ceiling, more
units a bill or another category on an approved provider is pending, the bills priced by the
approved list meanwhile, until an officer of the region (never the one who asked) approves
or rejects it, once, however they race; a newer list supersedes a pending one; the
application's own list is reviewed with the application."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.provider.service.price_review import raises
from tests.provider.conftest import ITEM_DEFAULTS
from tests.provider.test_directory import feed


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


LUNCH = {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "unit": "次", "price_fen": 1500}
BATH = {"code": "BATH_HOME", "name": "上门助浴", "category": "bathing", "price_fen": 6000}


def line(**over: Any) -> Any:
    return {**ITEM_DEFAULTS, **LUNCH, **over}


def test_what_raises_what_public_money_pays():
    now = [
        line(),
        line(
            code="AID",
            category="rehab_nursing",
            price_fen=5000,
            variable_price=True,
            max_price_fen=20000,
        ),
    ]
    assert raises(now, [line(price_fen=1400), now[1]]) == []  # cheaper
    assert raises(now, [line(name="营养午餐", serves_from="11:00", serves_until="13:00")]) == []
    assert raises(now, [line(price_fen=1501)]) == ["MEAL_LUNCH"]  # dearer
    assert raises(now, [line(max_per_visit=2)]) == ["MEAL_LUNCH"]  # more units a bill
    assert raises(now, [line(category="day_care")]) == ["MEAL_LUNCH"]  # another programme's
    assert raises(now, [line(code="MEAL_DINNER")]) == ["MEAL_DINNER"]  # a new item
    assert raises(now, [{**now[1], "max_price_fen": 20001}]) == ["AID"]  # a higher ceiling
    # a fixed price made variable up to a ceiling above it
    assert raises(now, [line(variable_price=True, max_price_fen=3000)]) == ["MEAL_LUNCH"]


async def _put(ctx, pid: str, services: list[dict[str, Any]]) -> Any:
    return await ctx.c.put(
        f"/v1/providers/{pid}/services", json={"services": services}, headers=ctx.admin(pid)
    )


async def _prices(ctx, pid: str) -> dict[str, int]:
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=ctx.officer)
    return {i["code"]: i["price_fen"] for i in r.json()["services"]}


async def _fed_prices(ctx, pid: str) -> dict[str, int]:
    [p] = [p for p in (await feed(ctx))["providers"] if p["id"] == pid]
    return {i["code"]: i["price_fen"] for i in p["services"]}


async def test_cheaper_applies_at_once_dearer_waits_for_the_officer(ctx):
    pid = await ctx.approved()
    r = await _put(ctx, pid, [{**LUNCH, "price_fen": 1400}, BATH])
    assert r.status_code == 200, r.text
    assert (
        await _prices(ctx, pid)
        == await _fed_prices(ctx, pid)
        == {
            "MEAL_LUNCH": 1400,
            "BATH_HOME": 6000,
        }
    )

    # One day care would take a whole voucher: it waits, and bills keep the approved prices.
    r = await _put(ctx, pid, [{**LUNCH, "price_fen": 99_999}, BATH])
    assert r.status_code == 202, r.text
    change = r.json()
    assert (change["status"], change["raises"]) == ("pending", ["MEAL_LUNCH"])
    assert (
        await _prices(ctx, pid)
        == await _fed_prices(ctx, pid)
        == {
            "MEAL_LUNCH": 1400,
            "BATH_HOME": 6000,
        }
    )
    # The officers' queue shows it beside the list in force; the provider sees it pending.
    queue = (await ctx.c.get("/v1/price-list-changes", headers=ctx.officer)).json()["items"]
    mine = next(c for c in queue if c["id"] == change["id"])
    assert {i["code"]: i["price_fen"] for i in mine["current"]}["MEAL_LUNCH"] == 1400
    assert {i["code"]: i["price_fen"] for i in mine["services"]}["MEAL_LUNCH"] == 99_999
    own = await ctx.c.get(f"/v1/providers/{pid}/price-list-changes", headers=ctx.admin(pid))
    assert [c["status"] for c in own.json()["items"]] == ["pending"]

    # Approved: bills are priced by it from now on, through the directory feed.
    version = (await feed(ctx))["version"]
    r = await ctx.c.post(
        f"/v1/providers/{pid}/price-list-changes/{change['id']}/approve",
        json={"reason": "物价部门核定"},
        headers=ctx.officer,
    )
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert r.json()["decided_by"] == "officer:nn"
    assert (
        await _prices(ctx, pid)
        == await _fed_prices(ctx, pid)
        == {
            "MEAL_LUNCH": 99_999,
            "BATH_HOME": 6000,
        }
    )
    [fed] = [p for p in (await feed(ctx, version))["providers"] if p["id"] == pid]
    assert fed["price_list_version"] > version
    # Decided once.
    again = await ctx.c.post(
        f"/v1/providers/{pid}/price-list-changes/{change['id']}/reject",
        json={"reason": "x"},
        headers=ctx.officer,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "PRICE_CHANGE_NOT_PENDING"


async def test_rejected_or_superseded_changes_leave_the_approved_prices(ctx, tokens):
    pid = await ctx.approved()
    first = (await _put(ctx, pid, [{**LUNCH, "price_fen": 1800}, BATH])).json()
    second = await _put(ctx, pid, [{**LUNCH, "price_fen": 1700}, BATH])
    assert second.status_code == 202
    statuses = {
        c["id"]: c["status"]
        for c in (
            await ctx.c.get(f"/v1/providers/{pid}/price-list-changes", headers=ctx.officer)
        ).json()["items"]
    }
    assert statuses == {first["id"]: "superseded", second.json()["id"]: "pending"}
    stale = await ctx.c.post(
        f"/v1/providers/{pid}/price-list-changes/{first['id']}/approve", headers=ctx.officer
    )
    assert stale.status_code == 409, stale.text

    # Who may decide: an officer of the region, with a reason to reject.
    path = f"/v1/providers/{pid}/price-list-changes/{second.json()['id']}"
    far = tokens.headers("civil_affairs", region="450200", sub="officer:lz")
    for headers, status, code in (
        (ctx.admin(pid), 403, "ROLE_NOT_ALLOWED"),
        (tokens.headers("finance", region="450100"), 403, "ROLE_NOT_ALLOWED"),
        (far, 403, "OUT_OF_SCOPE"),
    ):
        r = await ctx.c.post(f"{path}/approve", headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    r = await ctx.c.post(f"{path}/reject", json={}, headers=ctx.officer)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = await ctx.c.post(
        f"/v1/providers/{pid}/price-list-changes/{first['provider_id']}/approve",
        headers=ctx.officer,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "PRICE_CHANGE_NOT_FOUND"
    assert await _prices(ctx, pid) == {"MEAL_LUNCH": 1500, "BATH_HOME": 6000}

    r = await ctx.c.post(f"{path}/reject", json={"reason": "高于普惠价"}, headers=ctx.officer)
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert r.json()["reason"] == "高于普惠价"
    assert await _prices(ctx, pid) == await _fed_prices(ctx, pid)
    assert await _prices(ctx, pid) == {"MEAL_LUNCH": 1500, "BATH_HOME": 6000}


async def test_officers_racing_decide_once(ctx, tokens):
    pid = await ctx.approved()
    change = (await _put(ctx, pid, [LUNCH, {**BATH, "price_fen": 7000}])).json()
    path = f"/v1/providers/{pid}/price-list-changes/{change['id']}"
    officers = [
        tokens.headers("civil_affairs", region="450100", sub=f"officer:{n}") for n in range(8)
    ]
    answers = await asyncio.gather(
        *(
            ctx.c.post(f"{path}/approve", headers=h)
            if n % 2
            else ctx.c.post(f"{path}/reject", json={"reason": "核实中"}, headers=h)
            for n, h in enumerate(officers)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    (won,) = [a.json() for a in answers if a.status_code == 200]
    expected = 7000 if won["status"] == "approved" else 6000
    assert (await _prices(ctx, pid))["BATH_HOME"] == expected


async def test_an_applications_list_is_reviewed_with_the_application(ctx):
    pid = await ctx.apply()
    r = await _put(ctx, pid, [{**LUNCH, "price_fen": 2500}, BATH])
    assert r.status_code == 200, r.text
    assert (await _prices(ctx, pid))["MEAL_LUNCH"] == 2500
