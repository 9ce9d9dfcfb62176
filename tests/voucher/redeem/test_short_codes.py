"""The short numeric payment code (service/short_codes.py): issued with every dynamic code,
bound to that token, one-time with it, typed in place of the token at a terminal, rate
limited per provider, and no faster to guess than the limit allows."""

from __future__ import annotations

import asyncio
import re
import secrets

import asyncpg
import pytest

from services.common.auth import Role
from services.voucher.main import create_app
from services.voucher.service import short_codes
from tests.conftest import running
from tests.voucher.redeem.conftest import World, key, settings_for


def test_digits_are_recognised_and_grouped():
    assert short_codes.normalise("1234 5678 9012 3456 78") == "123456789012345678"
    assert short_codes.normalise("1234-5678-9012") == "123456789012"
    assert short_codes.normalise("12345678901") is None  # 11 digits
    assert short_codes.normalise("1234567890123456789") is None  # 19 digits
    assert short_codes.normalise("AEAQDISCD2IH27SOTSF5") is None  # a QR token
    assert short_codes.grouped("123456789012345678") == "1234 5678 9012 3456 78"
    assert len(short_codes.new_digits(18)) == 18
    assert len({short_codes.new_digits(18) for _ in range(1000)}) == 1000


def _bill(token: str) -> dict:
    return {
        "token": token,
        "service_code": "CARE_BATH",
        "gross_fen": 1000,
        "idempotency_key": key(),
    }


async def _person(world: World, tokens):
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    me = tokens.headers(Role.beneficiary, sub=str(ben))
    r = await world.client.post(f"/v1/beneficiaries/{ben}/codes", headers=me)
    assert r.status_code == 201, r.text
    return ben, vid, r.json()


async def test_the_short_code_is_bound_to_its_token_and_one_time_with_it(world, tokens):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    _, vid, code = await _person(world, tokens)
    digits = code["short_code"]
    assert re.fullmatch(r"[0-9]{18}", digits)
    # only a hash is kept, mapped to this very token
    stored = await world.conn.fetch("SELECT code_hash, token FROM short_code")
    assert [r["token"] for r in stored if r["code_hash"] == short_codes.digest(digits)] == [
        code["token"]
    ]
    assert all(digits.encode() not in bytes(r["code_hash"]) for r in stored)
    # preview and redeem with the digits typed (spaced as the phone shows them)
    typed = short_codes.grouped(digits)
    preview = {k: v for k, v in _bill(typed).items() if k != "idempotency_key"}
    r = await world.client.post("/v1/redemptions/preview", headers=term.headers, json=preview)
    assert r.status_code == 200, r.text
    body = _bill(typed)
    first = await world.client.post("/v1/redemptions", headers=term.headers, json=body)
    assert first.status_code == 201, first.text
    assert await world.balance(vid) == 50_000 - first.json()["subsidy_fen"]
    # the same request again answers the first redemption; a new one is refused: one-time
    again = await world.client.post("/v1/redemptions", headers=term.headers, json=body)
    assert again.status_code == 200 and again.json() == first.json()
    other = await world.client.post("/v1/redemptions", headers=term.headers, json=_bill(digits))
    assert other.status_code == 409 and other.json()["error"]["code"] == "TOKEN_USED"
    # and the QR token itself is used too: they are one code
    qr = await world.client.post("/v1/redemptions", headers=term.headers, json=_bill(code["token"]))
    assert qr.status_code == 409 and qr.json()["error"]["code"] == "TOKEN_USED"
    assert await world.balance(vid) == 50_000 - first.json()["subsidy_fen"]


async def test_wrong_codes_are_counted_and_lock_the_provider_out_for_the_window(voucher_db, tokens):
    """Guessing: random 18-digit codes never hit; after the limit every numeric code is
    refused at that provider, the right one too, while another provider and QR codes still
    work; when the window ends numeric codes work again."""
    app = create_app(
        settings_for(voucher_db.app_url, short_code_max_failures=5, short_code_window_s=2)
    )
    conn = await asyncpg.connect(voucher_db.owner_url)
    try:
        async with running(app) as client:
            world = World(app, client, voucher_db.owner_url, conn)
            pid, other_pid = world.add_provider(), world.add_provider()
            term, other_term = world.add_terminal(pid), world.add_terminal(other_pid)
            _, vid, code = await _person(world, tokens)
            answers = []
            for _ in range(5):
                guess = f"{secrets.randbelow(10**18):018d}"
                r = await client.post("/v1/redemptions", headers=term.headers, json=_bill(guess))
                answers.append((r.status_code, r.json()["error"]["code"]))
            assert answers == [(422, "SHORT_CODE_UNKNOWN")] * 5
            # locked: even the right digits are refused here, and nothing moves
            r = await client.post(
                "/v1/redemptions", headers=term.headers, json=_bill(code["short_code"])
            )
            assert r.status_code == 429 and r.json()["error"]["code"] == "SHORT_CODE_LOCKED"
            r = await client.post(
                "/v1/redemptions/preview",
                headers=term.headers,
                json={k: v for k, v in _bill(code["short_code"]).items() if k != "idempotency_key"},
            )
            assert r.status_code == 429
            assert await world.balance(vid) == 50_000
            # racing guesses are all counted (the guard's count is atomic)
            guesses = [f"{secrets.randbelow(10**18):018d}" for _ in range(10)]
            racing = await asyncio.gather(
                *(
                    client.post("/v1/redemptions", headers=other_term.headers, json=_bill(g))
                    for g in guesses
                )
            )
            assert sorted(r.status_code for r in racing) == [422] * 5 + [429] * 5
            failures = await conn.fetchval(
                "SELECT failures FROM short_code_guard WHERE provider_id = $1", other_pid
            )
            assert failures >= 5
            # a QR code still works where numeric codes are locked
            _, _vid2, code2 = await _person(world, tokens)
            r = await client.post(
                "/v1/redemptions", headers=term.headers, json=_bill(code2["token"])
            )
            assert r.status_code == 201, r.text
            # the window ends: the right digits work again
            await asyncio.sleep(2.2)
            r = await client.post(
                "/v1/redemptions", headers=term.headers, json=_bill(code["short_code"])
            )
            assert r.status_code == 201, r.text
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "typed", ["12345678901", "1234567890123456789", "１２３４５６７８９０１２"]
)
async def test_what_is_not_a_short_code_is_treated_as_a_token(world, tokens, typed):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    r = await world.client.post("/v1/redemptions", headers=term.headers, json=_bill(typed))
    assert r.status_code == 422 and r.json()["error"]["code"] == "TOKEN_INVALID"
    assert await world.conn.fetchval("SELECT count(*) FROM short_code_guard") == 0
