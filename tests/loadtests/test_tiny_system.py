"""The whole chain the load test checks, on a tiny system in-process: the real provider,
voucher and ledger apps on their own databases, seeded the load test's way, redemptions
(accepted, replayed, forged, retried, voided) through HTTP, the real relay, then the checker."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from loadtests import check, seed
from loadtests.scenarios.common import EXPECTED_REFUSALS
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as ledger_app
from services.provider.config import ProviderSettings
from services.provider.main import create_app as provider_app
from services.voucher.config import VoucherSettings
from services.voucher.main import create_app as voucher_app
from services.voucher.relay import Relay
from services.voucher.service.codes import issue_dynamic
from tests.conftest import running


def _outcome(kind: str, r: httpx.Response, token: str) -> dict:
    body = r.json()
    return {
        "kind": kind,
        "status": r.status_code,
        "token": check.token_digest(token),
        "redemption_id": body.get("id") if r.status_code < 300 else None,
        "code": (body.get("error") or {}).get("code") if r.status_code >= 400 else None,
    }


async def test_checker_passes_on_a_tiny_system_under_every_kind_of_request(make_db, tokens):
    vdb, pdb, ldb = await make_db("voucher"), await make_db("provider"), await make_db("ledger")
    papp = provider_app(ProviderSettings(database_url=pdb.app_url))
    lapp = ledger_app(LedgerSettings(database_url=ldb.app_url))
    async with running(papp) as provider, running(lapp) as ledger:
        terminals = await seed.seed_providers_via(provider, 3, 1)
        meal = next(t for t in terminals if t["kind"] == "meal_point")
        ids = await seed.seed_beneficiaries(vdb.owner_url, 8)
        vapp = voucher_app(
            VoucherSettings(
                database_url=vdb.app_url, directory_poll_interval_s=0.1, nonce_purge_interval_s=0
            ),
            directory_transport=httpx.ASGITransport(app=papp),
        )
        async with running(vapp) as voucher:
            lapp.state.voucher_client = voucher  # the ledger asks it about programmes
            for path, role, body in seed.funding_requests(
                region_code="450103",
                period=seed.current_period(),
                count=len(ids),
                plans=seed.default_plans(),
            ):
                assert (
                    await ledger.post(
                        path, json=body, headers=tokens.headers(role, region="450000")
                    )
                ).status_code == 201
            for _ in range(100):  # the directory is polled in the background
                if vapp.state.directory.loaded.is_set():
                    break
                await asyncio.sleep(0.05)
            term = {"Authorization": f"Bearer {meal['secret']}"}
            outcomes = []

            async def redeem(kind: str, token: str, key: str | None = None):
                r = await voucher.post(
                    "/v1/redemptions",
                    headers=term,
                    json={
                        "token": token,
                        "service_code": "MEAL_LUNCH",
                        "gross_fen": 1500,
                        "idempotency_key": key or f"k-{uuid.uuid4()}",
                    },
                )
                outcomes.append(_outcome(kind, r, token))
                return r

            codes = []
            for bid in ids:
                r = await voucher.post(
                    f"/v1/beneficiaries/{bid}/codes",
                    json={},
                    headers=tokens.headers("beneficiary", sub=bid, beneficiary_ids=(bid,)),
                )
                assert r.status_code == 201, r.text
                codes.append(r.json()["token"])
            # Accepted, concurrently, one code per person.
            answers = await asyncio.gather(*(redeem("meal", c) for c in codes))
            assert [a.status_code for a in answers] == [201] * len(codes)
            # The same codes again, racing: every one refused.
            replays = await asyncio.gather(*(redeem("replay", c) for c in codes[:4]))
            assert {a.status_code for a in replays} == {409}
            # A forged code.
            forged = codes[0][:40] + ("A" if codes[0][40] != "A" else "B") + codes[0][41:]
            assert (await redeem("invalid", forged)).status_code == 422
            # A retry of the same request gives the same redemption.
            fresh = issue_dynamic(vapp.state.settings.qr_private_key, uuid.UUID(ids[1]), 60).text
            first = await redeem("retry-first", fresh, key="retry-key-0001")
            again = await redeem("retry", fresh, key="retry-key-0001")
            assert again.json()["id"] == first.json()["id"]
            # A void gives the balance back.
            v = await voucher.post(
                f"/v1/redemptions/{answers[2].json()['id']}/void",
                json={"reason": "操作失误"},
                headers=term,
            )
            assert v.status_code == 200, v.text
            # The meal limit (2 a day) refuses the third meal: a correct refusal.
            third = issue_dynamic(vapp.state.settings.qr_private_key, uuid.UUID(ids[1]), 60).text
            refused = await redeem("meal", third)
            assert refused.json()["error"]["code"] in EXPECTED_REFUSALS

            relay = Relay(vapp.state.db.raw_pool, ledger)
            while await relay.deliver_once():
                pass
            report = check.Report()
            delivered = await check.check_voucher_side(vdb.owner_url, report, outcomes)
            await check.check_ledger_side(ldb.owner_url, delivered, report)
            chain = await ledger.get(
                "/v1/chain/verify", headers=tokens.headers("auditor", region="450000")
            )
    assert chain.json()["ok"] is True
    assert report.ok, report.render()
    skipped = [c.name for c in report.checks if c.ok is None]
    assert skipped == [], report.render()
    assert len(delivered) == len(codes) + 1 + 1  # redemptions, the retried one, the void
