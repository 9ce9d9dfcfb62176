"""The seeding step: valid identities, personal data encrypted, vouchers as issuance makes."""

from __future__ import annotations

import json

from loadtests import seed
from services.common import dev_keys
from services.common.crypto import PiiCipher
from tests.loadtests.conftest import connect

_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_valid(nid: str) -> bool:
    return (
        len(nid) == 18 and "10X98765432"[sum(int(c) * w for c, w in zip(nid, _W)) % 11] == nid[17]
    )


def test_national_ids_carry_the_gb11643_check_character():
    # The standard's own worked example.
    assert (
        seed.national_id("110105", __import__("datetime").date(1949, 12, 31), 2)
        == "11010519491231002X"
    )


def test_uscc_matches_the_gb32100_check_character():
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    for n in (1, 42, 999_999_999):
        code = seed.uscc(n)
        total = sum(chars.index(c) * w for c, w in zip(code[:17], weights))
        assert len(code) == 18 and code[17] == chars[(31 - total % 31) % 31]
    assert len({seed.uscc(n) for n in range(1, 200)}) == 199


async def test_bulk_seed_writes_people_and_their_vouchers(seeded_voucher_db):
    db, ids = seeded_voucher_db
    assert len(ids) == len(set(ids)) == 12
    cipher = PiiCipher(dev_keys.DEV_PII_ENCRYPTION_KEY, dev_keys.DEV_PII_HASH_KEY)
    conn = await connect(db.owner_url)
    try:
        people = await conn.fetch(
            "SELECT national_id_enc, national_id_hash, birth_on, sex FROM beneficiary"
        )
        assert len(people) == 12
        for p in people:
            # sealed as the service seals it (its context), so its pages can show it masked
            nid = cipher.decrypt(p["national_id_enc"], context=b"national_id")
            assert _id_valid(nid)
            assert cipher.lookup_hash(nid) == p["national_id_hash"]  # findable by the service
            assert nid[6:14] == p["birth_on"].strftime("%Y%m%d")
            assert p["sex"] == ("M" if int(nid[16]) % 2 else "F")
        vouchers = await conn.fetch(
            "SELECT program_code, face_fen, balance_fen, funding_shares, allowed_kinds FROM voucher"
        )
        assert len(vouchers) == 24
        assert {v["program_code"] for v in vouchers} == {"meal_assistance", "disability_subsidy"}
        assert all(v["balance_fen"] == v["face_fen"] for v in vouchers)
        assert all(sum(json.loads(v["funding_shares"]).values()) == 10_000 for v in vouchers)
    finally:
        await conn.close()


async def test_a_second_seeding_adds_people_without_clashing(seeded_voucher_db):
    db, first = seeded_voucher_db
    second = await seed.seed_beneficiaries(db.owner_url, 12, batch=7)
    assert not set(first) & set(second)
    conn = await connect(db.owner_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM beneficiary") == 24
    finally:
        await conn.close()


async def test_people_only_seeding_for_issuance_writes_no_vouchers(make_db):
    db = await make_db("voucher")
    ids = await seed.seed_beneficiaries(db.owner_url, 11, plans=[], batch=4)
    conn = await connect(db.owner_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM beneficiary") == len(ids) == 11
        assert await conn.fetchval("SELECT count(*) FROM voucher") == 0
        # Eligible for issuance: graded, assessment still valid.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM beneficiary WHERE grade BETWEEN 2 AND 4 "
                "AND grade_valid_until > now()"
            )
            == 11
        )
    finally:
        await conn.close()


async def test_budget_regions_spread_the_vouchers_over_books_in_turn(make_db):
    """The bench's books: people funded from several cities' budgets in turn, all living and
    spending in one district; the outbox book of their events is their budget region's city."""
    db = await make_db("voucher")
    regions = ["450103", "450203", "450303"]
    ids = await seed.seed_beneficiaries(db.owner_url, 7, batch=3, budget_regions=regions)
    conn = await connect(db.owner_url)
    try:
        rows = await conn.fetch(
            "SELECT v.beneficiary_id, v.budget_region_code, v.region_code, "
            "v.spend_region_prefix, b.region_code AS home FROM voucher v "
            "JOIN beneficiary b ON b.id = v.beneficiary_id"
        )
        by_person = {str(r["beneficiary_id"]): r for r in rows}
        assert [by_person[i]["budget_region_code"] for i in ids] == [
            regions[n % 3] for n in range(7)
        ]
        assert {(r["region_code"], r["spend_region_prefix"], r["home"]) for r in rows} == {
            ("450103", "4501", "450103")
        }
    finally:
        await conn.close()
