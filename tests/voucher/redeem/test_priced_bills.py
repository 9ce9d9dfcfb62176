"""Bills priced from the provider's price list (service/pricing.py, REDEEM's `items`): what was
sold is named, the service prices it, a different amount is refused and changes nothing."""

from __future__ import annotations

import asyncpg
import pytest

from tests.voucher.redeem.conftest import key, qr


@pytest.fixture
async def world(shared_world):
    return shared_world


PRICE_LIST = [
    {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "unit": "次", "price_fen": 1500},
    {
        "code": "CLEAN_HOME",
        "name": "上门助洁",
        "category": "cleaning",
        "unit": "小时",
        "price_fen": 3000,
        "max_per_visit": 3,
    },
    {"code": "BATH", "name": "助浴", "category": "bathing", "unit": "次", "price_fen": 6000},
    {
        "code": "AID_REPAIR",
        "name": "辅具维修",
        "category": "bathing",
        "unit": "次",
        "price_fen": 5000,
        "variable_price": True,
        "max_price_fen": 20_000,
    },
]


@pytest.fixture
async def shop(world):
    """A home-care provider whose list is PRICE_LIST (at version 41); a person with a care
    voucher (cleaning and bathing, 50 %, 500 yuan)."""
    pid = world.add_provider(kind="home_care", services=PRICE_LIST)
    world.providers[pid]["price_list_version"] = 41
    world._publish(providers=[world.providers[pid]])
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, categories=("bathing", "cleaning"))
    return world, term, ben, vid


async def unchanged(world, vid, before, balance):
    assert await world.counts() == before
    assert await world.balance(vid) == balance


async def post(world, term, body, path="/v1/redemptions"):
    return await world.client.post(path, headers=term.headers, json=body)


async def test_the_service_prices_the_bill_and_stores_its_lines(shop):
    world, term, ben, vid = shop
    items = [
        {"service_code": "CLEAN_HOME", "quantity": 2},
        {"service_code": "BATH"},
        {"service_code": "AID_REPAIR", "amount_fen": 12_000},
    ]
    r = await post(world, term, {"token": qr(ben), "items": items, "idempotency_key": key()})
    assert r.status_code == 201, r.text
    out = r.json()
    # 2 x 30 yuan + 60 yuan + 120 yuan (the repair's own price this time) = 240 yuan
    assert out["gross_fen"] == 24_000
    assert (out["subsidy_fen"], out["copay_fen"]) == (12_000, 12_000)
    red = await world.conn.fetchrow(
        "SELECT service_code, category, gross_fen, price_list_version FROM redemption"
        " WHERE id = $1::uuid",
        out["id"],
    )
    assert tuple(red) == ("CLEAN_HOME", "cleaning", 24_000, 41)
    lines = await world.conn.fetch(
        "SELECT line, service_code, category, quantity, unit_price_fen, amount_fen"
        " FROM redemption_item WHERE redemption_id = $1::uuid ORDER BY line",
        out["id"],
    )
    assert [tuple(x) for x in lines] == [
        (1, "CLEAN_HOME", "cleaning", 2, 3000, 6000),
        (2, "BATH", "bathing", 1, 6000, 6000),
        (3, "AID_REPAIR", "bathing", 1, 12_000, 12_000),
    ]
    ev = await world.conn.fetchval(
        "SELECT payload->>'gross_fen' FROM outbox WHERE payload->>'redemption_id' = $1", out["id"]
    )
    assert ev == "24000"
    assert await world.balance(vid) == 50_000 - 12_000


async def test_single_item_form_with_quantity_and_without_gross(shop):
    world, term, ben, _vid = shop
    body = {"token": qr(ben), "service_code": "CLEAN_HOME", "quantity": 3, "idempotency_key": key()}
    r = await post(world, term, body)
    assert r.status_code == 201, r.text
    assert r.json()["gross_fen"] == 9000
    # The old form, a gross_fen equal to the price of one unit, stays valid.
    r = await post(
        world,
        term,
        {"token": qr(ben), "service_code": "BATH", "gross_fen": 6000, "idempotency_key": key()},
    )
    assert r.status_code == 201 and r.json()["gross_fen"] == 6000


async def test_an_inflated_bill_is_refused_and_changes_nothing(shop):
    world, term, ben, vid = shop
    token = qr(ben)
    before, balance = await world.counts(), await world.balance(vid)
    for body, field, priced in [
        ({"service_code": "BATH", "gross_fen": 9000}, "gross_fen", 6000),
        ({"service_code": "CLEAN_HOME", "quantity": 2, "gross_fen": 3000}, "gross_fen", 6000),
        (
            {"items": [{"service_code": "BATH"}, {"service_code": "MEAL_LUNCH"}], "gross_fen": 1},
            "gross_fen",
            7500,
        ),
    ]:
        for path in ("/v1/redemptions", "/v1/redemptions/preview"):
            sent = {"token": token, **body}
            if path == "/v1/redemptions":
                sent["idempotency_key"] = key()
            r = await post(world, term, sent, path)
            assert r.status_code == 422, r.text
            err = r.json()["error"]
            assert (err["code"], err["field"]) == ("BILL_MISMATCH", field)
            assert err["details"] == {"priced_fen": priced}
    # A fixed-price item's amount_fen, when sent, is its list price.
    r = await post(
        world,
        term,
        {
            "token": token,
            "items": [{"service_code": "BATH", "amount_fen": 9000}],
            "idempotency_key": key(),
        },
    )
    err = r.json()["error"]
    assert (err["code"], err["field"]) == ("BILL_MISMATCH", "items.0.amount_fen")
    await unchanged(world, vid, before, balance)
    # Nothing was consumed: the same code pays the true bill.
    r = await post(world, term, {"token": token, "service_code": "BATH", "idempotency_key": key()})
    assert r.status_code == 201 and r.json()["gross_fen"] == 6000


async def test_quantities_and_variable_prices_are_bounded_by_the_list(shop):
    world, term, ben, vid = shop
    before, balance = await world.counts(), await world.balance(vid)
    cases = [
        (
            {"service_code": "CLEAN_HOME", "quantity": 4},
            "QUANTITY_NOT_ALLOWED",
            "quantity",
            {"max_per_visit": 3},
        ),
        (
            {"items": [{"service_code": "BATH"}, {"service_code": "BATH_X"}]},
            "SERVICE_NOT_OFFERED",
            "items.1.service_code",
            None,
        ),
        (
            {"items": [{"service_code": "BATH", "quantity": 2}]},
            "QUANTITY_NOT_ALLOWED",
            "items.0.quantity",
            {"max_per_visit": 1},
        ),
        (
            {"items": [{"service_code": "AID_REPAIR"}]},
            "AMOUNT_REQUIRED",
            "items.0.amount_fen",
            None,
        ),
        (
            {"items": [{"service_code": "AID_REPAIR", "amount_fen": 20_001}]},
            "PRICE_ABOVE_MAXIMUM",
            "items.0.amount_fen",
            {"max_price_fen": 20_000},
        ),
        (
            {"service_code": "AID_REPAIR", "gross_fen": 20_001},
            "PRICE_ABOVE_MAXIMUM",
            "gross_fen",
            None,
        ),
    ]
    for body, code, field, details in cases:
        for path in ("/v1/redemptions", "/v1/redemptions/preview"):
            sent = {"token": qr(ben), **body}
            if path == "/v1/redemptions":
                sent["idempotency_key"] = key()
            r = await post(world, term, sent, path)
            assert r.status_code == 422, (body, r.text)
            err = r.json()["error"]
            assert (err["code"], err["field"]) == (code, field), (body, r.text)
            if details is not None:
                assert err["details"] == details
    await unchanged(world, vid, before, balance)
    # The variable-price item at its ceiling, in the single-item form: its gross_fen.
    r = await post(
        world,
        term,
        {
            "token": qr(ben),
            "service_code": "AID_REPAIR",
            "gross_fen": 20_000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201 and r.json()["gross_fen"] == 20_000


async def test_every_items_category_must_be_covered(shop):
    """Lunch is not a care service: the care voucher cannot pay a bill that holds one, and no
    part of the bill is paid."""
    world, term, ben, vid = shop
    before, balance = await world.counts(), await world.balance(vid)
    body = {"items": [{"service_code": "BATH"}, {"service_code": "MEAL_LUNCH"}]}
    for path in ("/v1/redemptions", "/v1/redemptions/preview"):
        sent = {
            "token": qr(ben),
            **body,
            **({"idempotency_key": key()} if "pre" not in path else {}),
        }
        r = await post(world, term, sent, path)
        assert r.status_code == 422 and r.json()["error"]["code"] == "NO_USABLE_VOUCHER", r.text
    await unchanged(world, vid, before, balance)


async def test_caps_apply_to_the_whole_bill(world):
    pid = world.add_provider(kind="home_care", services=PRICE_LIST)
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, categories=("bathing", "cleaning"), per_txn_cap_fen=5000)
    items = [{"service_code": "BATH"}, {"service_code": "CLEAN_HOME", "quantity": 3}]
    p = await post(world, term, {"token": qr(ben), "items": items}, "/v1/redemptions/preview")
    assert p.status_code == 200, p.text
    assert (p.json()["gross_fen"], p.json()["subsidy_fen"], p.json()["copay_fen"]) == (
        15_000,
        5000,
        10_000,
    )
    assert [
        (i["service_code"], i["unit_price_fen"], i["amount_fen"]) for i in p.json()["items"]
    ] == [
        ("BATH", 6000, 6000),
        ("CLEAN_HOME", 3000, 9000),
    ]
    r = await post(world, term, {"token": qr(ben), "items": items, "idempotency_key": key()})
    assert {k: r.json()[k] for k in ("gross_fen", "subsidy_fen", "copay_fen")} == {
        k: p.json()[k] for k in ("gross_fen", "subsidy_fen", "copay_fen")
    }
    assert await world.balance(vid) == 45_000


async def test_the_bill_form_is_validated(shop):
    world, term, ben, vid = shop
    before, balance = await world.counts(), await world.balance(vid)
    one = {"service_code": "BATH"}
    cases = [
        ({}, "service_code"),
        ({"items": [one], "service_code": "BATH"}, "service_code"),
        ({"items": [one], "quantity": 2}, "quantity"),
        ({"items": []}, "items"),
        ({"items": [one, one]}, "items"),
        ({"items": [{"service_code": f"S{n}"} for n in range(21)]}, "items"),
        ({"items": [{"service_code": "BATH", "quantity": 0}]}, "items.0.quantity"),
        ({"items": [{"service_code": "BATH", "quantity": 100}]}, "items.0.quantity"),
        ({"items": [{"service_code": "BATH", "quantity": "2"}]}, "items.0.quantity"),
        ({"items": [{"service_code": "BATH", "amount_fen": 0}]}, "items.0.amount_fen"),
        ({"items": [{"service_code": "BATH", "price": 1}]}, "items.0.price"),
        ({"items": None}, "items"),
        ({"service_code": "BATH", "quantity": None}, "quantity"),
        ({"service_code": "BATH", "quantity": 1.5}, "quantity"),
    ]
    for body, field in cases:
        for path in ("/v1/redemptions", "/v1/redemptions/preview"):
            sent = {"token": qr(ben), **body}
            if path == "/v1/redemptions":
                sent["idempotency_key"] = key()
            r = await post(world, term, sent, path)
            assert r.status_code == 422, (body, r.text)
            err = r.json()["error"]
            assert (err["code"], err["field"]) == ("VALIDATION_ERROR", field), (body, r.text)
    await unchanged(world, vid, before, balance)


async def test_a_retried_bill_is_answered_once_and_another_bill_under_its_key_is_409(shop):
    world, term, ben, vid = shop
    body = {
        "token": qr(ben),
        "items": [{"service_code": "CLEAN_HOME", "quantity": 2}, {"service_code": "BATH"}],
        "idempotency_key": key(),
    }
    first = await post(world, term, body)
    assert first.status_code == 201
    again = await post(world, term, body)
    assert again.status_code == 200 and again.json() == first.json()
    before, balance = await world.counts(), await world.balance(vid)
    other = {**body, "items": [{"service_code": "CLEAN_HOME", "quantity": 3}]}
    r = await post(world, term, other)
    assert r.status_code == 409 and r.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    await unchanged(world, vid, before, balance)


async def test_a_new_price_list_prices_new_bills_and_leaves_old_ones(shop):
    world, term, ben, _vid = shop
    r1 = await post(
        world, term, {"token": qr(ben), "service_code": "BATH", "idempotency_key": key()}
    )
    new_list = [dict(item) for item in PRICE_LIST]
    next(i for i in new_list if i["code"] == "BATH")["price_fen"] = 7000
    world.providers[term.provider_id]["services"] = new_list
    world.providers[term.provider_id]["price_list_version"] = 42
    world._publish(providers=[world.providers[term.provider_id]])
    r2 = await post(
        world, term, {"token": qr(ben), "service_code": "BATH", "idempotency_key": key()}
    )
    assert (r1.json()["gross_fen"], r2.json()["gross_fen"]) == (6000, 7000)
    rows = await world.conn.fetch(
        "SELECT r.price_list_version, r.gross_fen FROM redemption r"
        " WHERE r.id = ANY($1::uuid[]) ORDER BY r.created_at",
        [r1.json()["id"], r2.json()["id"]],
    )
    assert [tuple(x) for x in rows] == [(41, 6000), (42, 7000)]  # one line: the redemption
    # The lines of a bill are never changed or removed (the app role may only add them), and
    # neither is the price list's version on the redemption (trigger redemption_guard).
    app_pool = world.app.state.db.raw_pool
    for statement in (
        "UPDATE redemption_item SET unit_price_fen = 1",
        "DELETE FROM redemption_item",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_pool.execute(statement)
    for column in ("price_list_version = 1", "staff_id = 'someone'", "terminal_id = 'other'"):
        # nor who made it (issue 21: carried to the ledger's entry)
        with pytest.raises(asyncpg.RaiseError, match="REDEMPTION_IMMUTABLE"):
            await app_pool.execute(
                f"UPDATE redemption SET {column} WHERE id = $1::uuid", r1.json()["id"]
            )
