"""A localstripe process the tests can stop and start again with what it knew (its state
file), to play a Stripe outage; and what the family's page does at Stripe (confirm with the
publishable key and the client secret, as Stripe.js does)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk_test_yiyang_local"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalStripe:
    def __init__(self, state: Path, port: int | None = None) -> None:
        self.state = state
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "localstripe",
                "--port",
                str(self.port),
                "--state",
                str(self.state),
            ],
            cwd=ROOT,
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(
                    self.base + "/v1/customers",
                    timeout=1,
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("localstripe did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def refunds(self, pi: str) -> list[dict[str, Any]]:
        r = httpx.get(
            self.base + "/v1/refunds",
            params={"payment_intent": pi, "limit": 100},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        r.raise_for_status()
        return r.json()["data"]


def pay_in_browser(
    base: str, client_secret: str, card: dict[str, str] | None = None
) -> dict[str, Any]:
    """What Stripe.js confirmCardPayment sends from the family's page (publishable key)."""
    pi = client_secret.split("_secret_")[0]
    r = httpx.post(
        f"{base}/v1/payment_intents/{pi}/confirm",
        json={
            "key": "pk_test_yiyang_local",
            "client_secret": client_secret,
            "payment_method_data": {"type": "card", "card": card or CARD},
        },
    )
    assert r.status_code == 200, r.text
    return r.json()
