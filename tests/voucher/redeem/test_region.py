"""The redemption region rule: a voucher is spent only at providers inside its area (the
person's province, city or county by the program's `spend_scope`, fixed at issuance)."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import ValidationError

from services.common.errors import AppError
from services.voucher.schemas.programs import ProgramConfig
from services.voucher.service.programs import DEFAULT_PROGRAMS
from services.voucher.service.redemption import (
    VoucherState,
    compute_split,
    in_spend_area,
    spend_region_prefix,
)
from tests.voucher.redeem.conftest import key, qr

EXAMPLES = [
    ("450103", "province", "45"),
    ("450103", "city", "4501"),
    ("450103", "county", "450103"),
    ("450103001", "county", "450103"),
    ("450103001002", "city", "4501"),
    ("450100", "county", "4501"),
    ("450000", "city", "45"),
    ("450000", "county", "45"),
]


@pytest.fixture
async def world(shared_world):
    return shared_world


@pytest.mark.parametrize(("region", "scope", "prefix"), EXAMPLES)
def test_spend_prefix_is_the_persons_area_at_the_scope(region, scope, prefix):
    assert spend_region_prefix(region, scope) == prefix


def test_pure_rule_refuses_a_provider_outside_the_area():
    voucher = VoucherState(balance_fen=10_000, ratio_bp=5000, spend_region_prefix="4501")
    assert compute_split(voucher, 1000, "450105").subsidy_fen == 500
    assert in_spend_area("4501", "450103001")
    assert not in_spend_area("4501", "450203") and not in_spend_area("4501", None)
    for region in ("450203", "460100", None):
        with pytest.raises(AppError) as exc:
            compute_split(voucher, 1000, region)
        assert exc.value.code == "PROVIDER_OUT_OF_AREA"
    # A voucher without an area (the rule alone, no row) is not limited.
    assert (
        compute_split(VoucherState(balance_fen=10_000, ratio_bp=5000), 1000, None).subsidy_fen
        == 500
    )


def test_spend_scope_defaults_to_city_and_is_validated():
    data = DEFAULT_PROGRAMS["disability_subsidy"].model_dump(mode="json")
    assert data["spend_scope"] == "city"
    data.pop("spend_scope")
    assert ProgramConfig.model_validate(data).spend_scope == "city"  # stored configs stay valid
    assert ProgramConfig.model_validate({**data, "spend_scope": "county"}).spend_scope == "county"
    with pytest.raises(ValidationError) as exc:
        ProgramConfig.model_validate({**data, "spend_scope": "town"})
    assert exc.value.errors()[0]["loc"] == ("spend_scope",)


async def test_sql_prefix_function_agrees_with_python(world):
    for region, scope, prefix in EXAMPLES:
        digits = {"province": 2, "city": 4, "county": 6}[scope]
        assert (
            await world.conn.fetchval("SELECT region_spend_prefix($1, $2)", region, digits)
            == prefix
        )


async def test_a_row_without_prefix_gets_its_budget_regions_city_and_the_shape_is_checked(world):
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    assert (
        await world.conn.fetchval("SELECT spend_region_prefix FROM voucher WHERE id = $1", vid)
        == "4501"
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await world.add_voucher(ben, program_code="meal_assistance", spend_region_prefix="4x")


async def test_a_provider_in_another_city_is_refused_and_nothing_changes(world):
    pid = world.add_provider(region="450203")  # Liuzhou; the person lives in Nanning
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, face_fen=50_000)
    before = await world.counts()
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 8000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "PROVIDER_OUT_OF_AREA"
    assert r.json()["error"]["field"] == "provider_id"
    assert await world.balance(vid) == 50_000
    assert await world.counts() == before


async def test_same_city_other_county_is_accepted_and_a_county_voucher_is_not(world):
    pid = world.add_provider(region="450105")  # another district of Nanning
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()  # lives in 450103
    vid = await world.add_voucher(ben, face_fen=50_000)  # city scope: 4501
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 8000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["voucher_id"] == str(vid) and await world.balance(vid) == 46_000

    county_person = await world.add_beneficiary()
    county = await world.add_voucher(county_person, face_fen=50_000, spend_region_prefix="450103")
    before = await world.counts()
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(county_person),
            "service_code": "CARE_BATH",
            "gross_fen": 8000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "PROVIDER_OUT_OF_AREA"
    assert await world.balance(county) == 50_000 and await world.counts() == before


async def test_an_in_area_voucher_pays_when_another_one_is_out_of_area(world):
    pid = world.add_provider(region="450203")
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    home = await world.add_voucher(ben, face_fen=50_000, priority=10)  # Nanning only
    anywhere = await world.add_voucher(
        ben, face_fen=50_000, program_code="meal_assistance", spend_region_prefix="45", priority=100
    )
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 8000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["voucher_id"] == str(anywhere)
    assert await world.balance(home) == 50_000
