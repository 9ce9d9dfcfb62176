"""Budget moves only for a known region of the province and a programme the voucher service
knows, and a commitment pays for at least one voucher: a typo is a 422 with a stable code,
nothing is posted and its idempotency key stays unused. When the voucher service cannot say
which programmes exist the answer is 503, and a retry with the same key then works."""

from __future__ import annotations

import httpx

from tests.conftest import Tokens
from tests.fixtures.voucher_programs import programs_client
from tests.ledger.conftest import CITY, DISTRICT, PROGRAM, SHARES

UNKNOWN_COUNTY = "450199"  # the shape of a Nanning district, but there is none
OTHER_PROVINCE = "110101"  # Beijing, Dongcheng: not this deployment's province
TOWNSHIP = "450103001"  # a township of a known county


def _commitment(**changes):
    body = {
        "idempotency_key": "commit-target",
        "purpose": "voucher",
        "program_code": PROGRAM,
        "region_code": DISTRICT,
        "period": "2026-11",
        "amount_fen": 1_000,
        "count": 1,
        "funding_shares": SHARES,
    }
    return {**body, **changes}


def _appropriation(**changes):
    body = {
        "idempotency_key": "appr-target",
        "program_code": PROGRAM,
        "region_code": CITY,
        "by_source": {"central": 95_000, "regional": 5_000},
        "memo": "预算下达",
    }
    return {**body, **changes}


async def test_appropriations_for_an_unknown_region_or_programme_are_refused(ledger):
    before = await ledger.snapshot()
    beijing_finance = Tokens().headers("finance", sub="finance:bj", region="110000")
    for headers, body, code, field in (
        (
            ledger.finance,
            _appropriation(region_code=UNKNOWN_COUNTY),
            "UNKNOWN_REGION",
            "region_code",
        ),
        (
            beijing_finance,
            _appropriation(region_code=OTHER_PROVINCE),
            "UNKNOWN_REGION",
            "region_code",
        ),
        (
            ledger.finance,
            _appropriation(program_code="disability_subsidyy"),
            "UNKNOWN_PROGRAM",
            "program_code",
        ),
        (
            ledger.finance,
            _appropriation(program_code="Disability"),
            "VALIDATION_ERROR",
            "program_code",
        ),
    ):
        r = await ledger.c.post("/v1/appropriations", headers=headers, json=body)
        assert r.status_code == 422, (body, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, field)
    assert await ledger.snapshot() == before  # nothing posted, no key recorded
    # the same key, corrected, is a first request (the refusal was not recorded under it)
    r = await ledger.c.post(
        "/v1/appropriations", headers=ledger.finance, json=_appropriation(region_code=TOWNSHIP)
    )
    assert r.status_code == 201, r.text
    assert (await ledger.budget(TOWNSHIP))["available_fen"] == 100_000


async def test_commitments_for_an_unknown_region_or_programme_or_no_voucher_are_refused(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    before = await ledger.snapshot()
    for body, code, field in (
        (_commitment(region_code=UNKNOWN_COUNTY), "UNKNOWN_REGION", "region_code"),
        (_commitment(region_code=OTHER_PROVINCE), "UNKNOWN_REGION", "region_code"),
        (_commitment(program_code="meal_assistence"), "UNKNOWN_PROGRAM", "program_code"),
        (_commitment(count=0), "VALIDATION_ERROR", "count"),
        (_commitment(count=0, purpose="cash_benefit"), "VALIDATION_ERROR", "count"),
    ):
        r = await ledger.c.post("/v1/commitments", headers=ledger.service, json=body)
        assert r.status_code == 422, (body, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, field)
    assert await ledger.snapshot() == before
    r = await ledger.c.post("/v1/commitments", headers=ledger.service, json=_commitment())
    assert r.status_code == 201, r.text


def _voucher(app, answer) -> None:
    """The ledger's voucher service answers with `answer` from now on (a fresh directory,
    which remembers nothing yet)."""
    app.state.voucher_client = httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://voucher"
    )
    app.state.program_directory = None


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("voucher service down", request=request)


def _not_the_voucher_service(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"detail": "Not Found"})


async def test_the_voucher_service_down_is_503_and_a_known_programme_is_remembered(ledger):
    app = ledger.c._transport.app  # type: ignore[attr-defined]
    before = await ledger.snapshot()
    for answer in (_down, _not_the_voucher_service):  # never taken for "no such programme"
        _voucher(app, answer)
        r = await ledger.c.post("/v1/appropriations", headers=ledger.finance, json=_appropriation())
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "VOUCHER_SERVICE_UNAVAILABLE"
        r = await ledger.c.post("/v1/commitments", headers=ledger.service, json=_commitment())
        assert r.status_code == 503, r.text
    assert await ledger.snapshot() == before

    # back: the same key goes through, and the programme is remembered
    app.state.voucher_client = programs_client()
    app.state.program_directory = None
    r = await ledger.c.post("/v1/appropriations", headers=ledger.finance, json=_appropriation())
    assert r.status_code == 201, r.text
    app.state.program_directory.http = httpx.AsyncClient(
        transport=httpx.MockTransport(_down), base_url="http://voucher"
    )
    r = await ledger.c.post("/v1/commitments", headers=ledger.service, json=_commitment())
    assert r.status_code == 201, r.text
    r = await ledger.c.post(
        "/v1/commitments",
        headers=ledger.service,
        json=_commitment(idempotency_key="commit-other", program_code="meal_assistance"),
    )
    assert r.status_code == 503  # a code not yet seen is asked, and nobody answers
