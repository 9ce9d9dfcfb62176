"""QR codes: issued to the right people, rendered as PNG/SVG that decode to the token,
verifiable offline with the published key; printed cards with PINs and lock-out."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from datetime import UTC, datetime

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from services.common.auth import Role
from services.common.ids import new_uuid
from services.common.keys import ed25519_pair
from services.voucher.errors import TokenInvalid
from services.voucher.service import codes
from tests.voucher.redeem.conftest import key


@pytest.fixture
async def world(shared_world):
    """This module's tests share one database (they count relative to their start)."""
    return shared_world


def decode_png(data: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
    assert len(found) == 1
    return found[0].text


def decode_svg(svg: str) -> str:
    """Rasterise the SVG's path (`M x y h n`: a horizontal run of dark modules) and decode it."""
    n = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    img = Image.new("L", (n, n), 255)
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)", svg):
        for i in range(int(run)):
            img.putpixel((int(x) + i, int(y)), 0)
    found = zxingcpp.read_barcodes(img.resize((n * 6, n * 6), Image.NEAREST))
    assert len(found) == 1
    return found[0].text


async def test_a_person_gets_a_code_whose_images_decode_to_it_and_it_redeems(world, tokens):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    await world.add_voucher(ben)
    me = tokens.headers(Role.beneficiary, sub=str(ben))
    r = await world.client.post(f"/v1/beneficiaries/{ben}/codes", headers=me)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    ttl = (datetime.fromisoformat(r.json()["expires_at"]) - datetime.now(UTC)).total_seconds()
    assert 55 < ttl <= 61
    assert re.fullmatch(r"[A-Z2-7]+", token) and len(token) <= 160  # QR alphanumeric
    png = await world.client.get(f"/v1/codes/{token}.png", headers=me)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert decode_png(png.content) == token
    svg = await world.client.get(f"/v1/codes/{token}.svg", headers=me)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert decode_svg(svg.text) == token
    scanned = decode_png(png.content)
    red = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": scanned,
            "service_code": "CARE_BATH",
            "gross_fen": 1000,
            "idempotency_key": key(),
        },
    )
    assert red.status_code == 201, red.text


async def test_a_terminal_verifies_the_token_offline_with_the_published_key(world, tokens):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    pk = await world.client.get("/v1/codes/public-key", headers=term.headers)
    assert pk.status_code == 200 and pk.json()["algorithm"] == "Ed25519"
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(pk.json()["raw_base64"]))
    token = (
        await world.client.post(
            f"/v1/beneficiaries/{ben}/codes", headers=tokens.headers(Role.beneficiary, sub=str(ben))
        )
    ).json()["token"]
    raw = base64.b32decode(token + "=" * (-len(token) % 8))
    body, signature = raw[:30], raw[30:]
    public.verify(signature, body)  # raises if not valid
    assert body[2:18] == ben.bytes
    assert (await world.client.get("/v1/codes/public-key")).status_code == 401


async def test_who_may_get_a_code(world, tokens):
    ben = await world.add_beneficiary()
    other = await world.add_beneficiary()
    url = f"/v1/beneficiaries/{ben}/codes"
    proxy = tokens.headers(Role.proxy, sub="proxy:daughter", beneficiary_ids=[str(ben)])
    # the token's scope alone is not enough: the authorisation must be on record and live
    refused = await world.client.post(url, headers=proxy)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "OUT_OF_SCOPE"
    await world.add_proxy(ben, "proxy:daughter")
    assert (await world.client.post(url, headers=proxy)).status_code == 201
    # someone else's person is not found, exactly like an id nobody has; a wrong role is 403
    nobody = new_uuid()
    missing = await world.client.post(
        f"/v1/beneficiaries/{nobody}/codes",
        headers=tokens.headers(Role.beneficiary, sub=str(nobody)),
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    for headers in (
        tokens.headers(Role.beneficiary, sub=str(other)),
        tokens.headers(Role.proxy, beneficiary_ids=[str(other)]),
    ):
        r = await world.client.post(url, headers=headers)
        assert (r.status_code, r.json()) == (404, missing.json())
    for headers in (
        tokens.headers(Role.civil_affairs, region="450000"),
        tokens.headers(Role.provider_staff, provider_id="p"),
    ):
        r = await world.client.post(url, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    # The image of someone else's code is not theirs to see either.
    token = (await world.client.post(url, headers=proxy)).json()["token"]
    r = await world.client.get(
        f"/v1/codes/{token}.png", headers=tokens.headers(Role.beneficiary, sub=str(other))
    )
    assert r.status_code == 403
    r = await world.client.get("/v1/codes/NOTATOKEN.png", headers=proxy)
    assert r.status_code == 422 and r.json()["error"]["code"] == "TOKEN_INVALID"
    await world.conn.execute("UPDATE beneficiary SET status = 'moved' WHERE id = $1", ben)
    r = await world.client.post(url, headers=proxy)
    assert r.status_code == 409 and r.json()["error"]["code"] == "BENEFICIARY_NOT_ACTIVE"


@pytest.fixture
async def card_world(world, tokens):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    officer = tokens.headers(Role.civil_affairs, region="450100")
    r = await world.client.post(f"/v1/beneficiaries/{ben}/cards", headers=officer)
    assert r.status_code == 201, r.text
    return world, term, ben, vid, r.json(), officer


def card_body(card, pin=None, gross=1000):
    b = {
        "token": card["token"],
        "service_code": "CARE_BATH",
        "gross_fen": gross,
        "idempotency_key": key(),
    }
    if pin is not None:
        b["pin"] = pin
    return b


def wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 1_000_000:06d}"


async def test_card_redeems_repeatedly_with_its_pin(card_world):
    world, term, ben, vid, card, _ = card_world
    assert re.fullmatch(r"\d{6}", card["pin"])
    stored = await world.conn.fetchrow(
        "SELECT pin_hash, pin_salt FROM card WHERE beneficiary_id = $1", ben
    )
    assert card["pin"].encode() not in bytes(stored["pin_hash"])
    for _ in range(2):
        r = await world.client.post(
            "/v1/redemptions", headers=term.headers, json=card_body(card, card["pin"])
        )
        assert r.status_code == 201, r.text
    assert await world.balance(vid) == 49_000
    r = await world.client.post("/v1/redemptions", headers=term.headers, json=card_body(card))
    assert r.status_code == 422 and r.json()["error"]["code"] == "PIN_REQUIRED"


async def test_five_wrong_pins_lock_the_card(card_world):
    world, term, _ben, vid, card, _ = card_world
    for left in (4, 3, 2, 1):
        r = await world.client.post(
            "/v1/redemptions", headers=term.headers, json=card_body(card, wrong(card["pin"]))
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "PIN_INCORRECT"
        assert r.json()["error"]["details"]["attempts_left"] == left
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=card_body(card, wrong(card["pin"]))
    )
    assert r.status_code == 423 and r.json()["error"]["code"] == "CARD_LOCKED"
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=card_body(card, card["pin"])
    )
    assert r.status_code == 423 and r.json()["error"]["code"] == "CARD_LOCKED"
    assert await world.balance(vid) == 50_000
    assert (await world.counts())[0] == 0


async def test_a_right_pin_resets_the_count(card_world):
    world, term, ben, _vid, card, _ = card_world
    for _ in range(4):
        await world.client.post(
            "/v1/redemptions", headers=term.headers, json=card_body(card, wrong(card["pin"]))
        )
    assert (
        await world.client.post(
            "/v1/redemptions", headers=term.headers, json=card_body(card, card["pin"])
        )
    ).status_code == 201
    assert (
        await world.conn.fetchval("SELECT failed_attempts FROM card WHERE beneficiary_id = $1", ben)
        == 0
    )


async def test_wrong_pins_racing_never_exceed_five_attempts(card_world):
    world, term, ben, _vid, card, _ = card_world
    answers = await asyncio.gather(
        *(
            world.client.post(
                "/v1/redemptions", headers=term.headers, json=card_body(card, wrong(card["pin"]))
            )
            for _ in range(12)
        )
    )
    codes_seen = [r.json()["error"]["code"] for r in answers]
    assert set(codes_seen) <= {"PIN_INCORRECT", "CARD_LOCKED"}
    assert codes_seen.count("PIN_INCORRECT") <= 4
    row = await world.conn.fetchrow(
        "SELECT status, failed_attempts FROM card WHERE beneficiary_id = $1", ben
    )
    assert (row["status"], row["failed_attempts"]) == ("locked", 5)


async def test_reissue_replaces_the_old_card_and_only_officers_of_the_region_issue(
    card_world, tokens
):
    world, term, ben, _vid, card, officer = card_world
    new = (await world.client.post(f"/v1/beneficiaries/{ben}/cards", headers=officer)).json()
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=card_body(card, card["pin"])
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "CARD_NOT_VALID"
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=card_body(new, new["pin"])
    )
    assert r.status_code == 201
    # another city's officer: not found, exactly like an id nobody has
    liuzhou = tokens.headers(Role.civil_affairs, region="450200")
    r = await world.client.post(f"/v1/beneficiaries/{ben}/cards", headers=liuzhou)
    missing = await world.client.post(f"/v1/beneficiaries/{new_uuid()}/cards", headers=liuzhou)
    assert r.status_code == 404 and r.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    assert r.json() == missing.json()
    r = await world.client.post(
        f"/v1/beneficiaries/{ben}/cards", headers=tokens.headers(Role.beneficiary, sub=str(ben))
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM card WHERE status <> 'replaced' AND beneficiary_id = $1", ben
        )
        == 1
    )


async def test_an_officer_of_the_region_unlocks_a_locked_card(card_world, tokens):
    world, term, ben, _vid, card, officer = card_world
    url = f"/v1/beneficiaries/{ben}/cards/{card['card_id']}/unlock"
    r = await world.client.post(url, headers=officer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CARD_NOT_LOCKED"
    for _ in range(5):
        await world.client.post(
            "/v1/redemptions", headers=term.headers, json=card_body(card, wrong(card["pin"]))
        )
    # wrong role, another region, another person's card: refused, nothing changes
    r = await world.client.post(url, headers=tokens.headers(Role.beneficiary, sub=str(ben)))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await world.client.post(url, headers=tokens.headers(Role.civil_affairs, region="450200"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    other = await world.add_beneficiary()
    r = await world.client.post(
        f"/v1/beneficiaries/{other}/cards/{card['card_id']}/unlock", headers=officer
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "CARD_NOT_FOUND"
    assert await world.conn.fetchval("SELECT status FROM card WHERE beneficiary_id = $1", ben) == (
        "locked"
    )
    r = await world.client.post(url, headers=officer)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["failed_attempts"], r.json()["locked_at"]) == (
        "active",
        0,
        None,
    )
    assert r.json()["unlocked_at"] and r.json()["unlocked_by"]  # who unlocked it, and when
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=card_body(card, card["pin"])
    )
    assert r.status_code == 201, r.text
    # a replaced card never comes back
    await world.client.post(f"/v1/beneficiaries/{ben}/cards", headers=officer)
    r = await world.client.post(url, headers=officer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CARD_NOT_LOCKED"


@given(st.binary(min_size=codes.TOKEN_BYTES, max_size=codes.TOKEN_BYTES))
def test_a_tokens_text_decodes_to_its_bytes_as_the_standard_base32(raw: bytes) -> None:
    # The redemption reads a token's text as one base-32 number (service/codes.py,
    # `_token_bytes`); it must give exactly what RFC 4648's decoder gives.
    text = codes._b32(raw)
    assert len(text) == codes.TOKEN_CHARS
    assert codes._token_bytes(text) == raw == base64.b32decode(text + "=")


def test_a_token_with_a_character_outside_base32_or_a_wrong_signature_is_invalid() -> None:
    private, public = ed25519_pair()
    good = codes.issue_dynamic(private, new_uuid(), 60).text
    assert codes.verify_token(public, good).text == good
    for bad in (
        good[:-1] + "1",  # not in the alphabet, right length
        good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1],  # the signature changed
        good[:50] + ("A" if good[50] != "A" else "B") + good[51:],  # the body changed
        good.lower().replace("a", "8"),
    ):
        with pytest.raises(TokenInvalid):
            codes.verify_token(public, bad)
    _, other_public = ed25519_pair()
    with pytest.raises(TokenInvalid):
        codes.verify_token(other_public, good)
