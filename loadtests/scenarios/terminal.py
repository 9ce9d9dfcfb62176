"""Provider terminals at work: a beneficiary shows a fresh QR code, the terminal redeems.

Two user classes share the behaviour: terminals at meal points (meals only) and terminals at
care providers (care services, and meals where the provider also serves them). Every task
asks the beneficiary's app for a fresh code first (as that beneficiary), then:

- redeem (most of the traffic), at the price list's price (care: 1 or 2 units);
- void a redemption just made (the balance comes back);
- replay a code that was just accepted, under a new idempotency key: must be refused;
- present a forged code (signature broken): must be refused;
- retry the same request (same key, same body): must give the same redemption.

Requests are grouped with `name=`, so the report has one line per kind of call.
"""

from __future__ import annotations

import random
from typing import Any

from locust import FastHttpUser, between, task

from loadtests.config import get_load_settings
from loadtests.scenarios.common import (
    EXPECTED_REFUSALS,
    Outcomes,
    beneficiary_bearer,
    error_code,
    new_key,
    random_beneficiary,
    terminals_where,
)

_settings = get_load_settings()


class _Terminal(FastHttpUser):
    abstract = True
    wait_time = between(0.0, 0.05)
    meal_only = False
    terminal: dict[str, Any]

    def on_start(self) -> None:
        pool = terminals_where(meal=self.meal_only) or terminals_where(meal=not self.meal_only)
        self.terminal = random.choice(pool)
        self.auth = {"Authorization": f"Bearer {self.terminal['secret']}"}

    # -- steps -------------------------------------------------------------------------

    def fresh_code(self) -> str | None:
        bid = random_beneficiary()
        with self.client.post(
            f"/v1/beneficiaries/{bid}/codes",
            json={},
            headers={"Authorization": beneficiary_bearer(bid)},
            name="/v1/beneficiaries/[id]/codes",
            catch_response=True,
        ) as r:
            if r.status_code in (200, 201):
                return r.json()["token"]
            r.failure(f"code: {r.status_code} {error_code(_json(r))}")
            return None

    def pick_service(self, category: str | None = None) -> tuple[str, int, int]:
        """An item of the terminal's price list, a quantity it allows, and the bill's total
        at the list price (what the voucher service will price it at)."""
        services = self.terminal["services"]
        if category:
            services = [
                s for s in services if (s["category"] == "meal") == (category == "meal")
            ] or services
        s = random.choice(services)
        units = 1 if s.get("max_per_visit", 1) == 1 else random.choice((1, 1, 2))
        # (category "care" stands for every service that is not a meal)
        return s["code"], units, s["price_fen"] * units

    def redeem(
        self,
        token: str,
        *,
        kind: str,
        category: str | None = None,
        body: dict[str, Any] | None = None,
        name: str | None = None,
        must_refuse: bool = False,
    ) -> tuple[int, dict[str, Any] | None, dict]:
        if body is None:
            service_code, quantity, gross = self.pick_service(category)
            body = {
                "token": token,
                "service_code": service_code,
                "quantity": quantity,
                "gross_fen": gross,
                "idempotency_key": new_key(),
            }
        with self.client.post(
            "/v1/redemptions",
            json=body,
            headers=self.auth,
            name=name or f"/v1/redemptions [{kind}]",
            catch_response=True,
        ) as r:
            data = _json(r)
            code = error_code(data)
            if must_refuse:
                if 400 <= r.status_code < 500:
                    r.success()
                else:
                    r.failure(f"{kind}: expected a refusal, got {r.status_code}")
            elif r.status_code == 201:
                r.success()
            elif 400 <= r.status_code < 500 and code in EXPECTED_REFUSALS:
                r.success()  # a correct answer: this person's voucher cannot pay now
            else:
                r.failure(f"{kind}: {r.status_code} {code}")
            rid = data.get("id") if r.status_code in (200, 201) and data else None
            Outcomes.record(
                kind=kind,
                status=r.status_code,
                token=token,
                redemption_id=rid,
                code=code,
                subsidy_fen=data.get("subsidy_fen") if rid and data else None,
            )
            return r.status_code, data if isinstance(data, dict) else None, body

    # -- tasks (weights from the environment) -------------------------------------------

    @task(_settings.weight_meal + _settings.weight_care)
    def redeem_once(self) -> None:
        token = self.fresh_code()
        if token:
            self.redeem(
                token,
                kind="meal" if self.meal_only else "care",
                category="meal" if self.meal_only else "care",
            )

    @task(_settings.weight_void)
    def redeem_then_void(self) -> None:
        token = self.fresh_code()
        if not token:
            return
        status, data, _ = self.redeem(token, kind="to-void")
        if status != 201 or not data:
            return
        with self.client.post(
            f"/v1/redemptions/{data['id']}/void",
            json={"reason": "操作失误（压测）"},
            headers=self.auth,
            name="/v1/redemptions/[id]/void",
            catch_response=True,
        ) as r:
            if r.status_code == 200:
                r.success()
                Outcomes.record(kind="void", status=200, token=None, redemption_id=data["id"])
            else:
                r.failure(f"void: {r.status_code} {error_code(_json(r))}")

    @task(_settings.weight_replay)
    def replay_accepted_code(self) -> None:
        token = self.fresh_code()
        if not token:
            return
        status, _, _ = self.redeem(token, kind="first-use")
        if status == 201:
            self.redeem(token, kind="replay", must_refuse=True)

    @task(_settings.weight_invalid)
    def forged_code(self) -> None:
        token = self.fresh_code()
        if not token:
            return
        # Change one character in the middle of the token: the signature no longer matches.
        i = len(token) // 2
        forged = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        self.redeem(forged, kind="invalid", must_refuse=True)

    @task(_settings.weight_retry)
    def retry_same_request(self) -> None:
        token = self.fresh_code()
        if not token:
            return
        status, first, body = self.redeem(token, kind="retry-first")
        if status != 201 or not first:
            return
        with self.client.post(
            "/v1/redemptions",
            json=body,
            headers=self.auth,
            name="/v1/redemptions [retry]",
            catch_response=True,
        ) as r:
            again = _json(r) or {}
            same = r.status_code in (200, 201) and again.get("id") == first["id"]
            if same:
                r.success()
            else:
                r.failure(f"retry: {r.status_code}, id {again.get('id')} != {first['id']}")
            Outcomes.record(
                kind="retry",
                status=r.status_code,
                token=token,
                redemption_id=again.get("id"),
                subsidy_fen=again.get("subsidy_fen"),
            )


def _json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:
        return None


class MealPointTerminal(_Terminal):
    """A cashier at a meal point (老年食堂/助餐点): meals, three times a day."""

    weight = 3
    meal_only = True


class CareTerminal(_Terminal):
    """A terminal at a care provider: bathing, cleaning, nursing, rehabilitation."""

    weight = 2
    meal_only = False
