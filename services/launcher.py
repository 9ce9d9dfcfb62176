"""`yiyang up`: the whole system on one machine, each part on 127.0.0.1.

Starts (or joins) the embedded PostgreSQL unless database URLs are configured, creates and
migrates each service's database and the web's, then runs each service, the outbox relay, the
issuance scheduler, the local fake Stripe and the web app (two worker processes sharing its database) as children, waits until every one answers, optionally loads
demo data and prints where to open things. It then supervises: a child that dies is started
again after a growing pause (1 s, 2 s, 4 s ... 30 s; back to 1 s once it has run for a
minute), each restart said in the output. Ctrl-C stops everything: the children run in
sessions of their own, so the terminal's interrupt reaches only the launcher, which asks each
child to stop (SIGTERM) and waits for it, without a traceback anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.common import embedded_pg
from services.common.migrate import DATABASES, package, prepare_service_database
from services.common.settings import CommonSettings, get_common_settings
from services.common.shards import parse_shards

WEB_WORKERS = 2  # the web keeps sessions in its database, so any worker serves any request
# Each service runs as several processes, as in production (infra/systemd): nothing a request
# needs lives in one process's memory (idempotency, limits, attempts and leases are rows).
SERVICE_WORKERS = 2


def _service_settings(service: str) -> Any:
    """The settings object of a service or the web (its config.get_settings())."""
    return importlib.import_module(f"{package(service)}.config").get_settings()


async def prepare_databases(only: str | None = None) -> dict[str, str]:
    """Create and migrate every database (the services' and the web's); return each one's
    app URL (the URL its process connects with)."""
    common = get_common_settings()
    urls: dict[str, str] = {}
    admin: str | None = None
    for service in DATABASES:
        if only and service != only:
            continue
        settings = _service_settings(service)
        # Provinces as shards (docs/shards.md): every province's database of the service.
        for province, url in parse_shards(getattr(settings, "shards", "")).items():
            await _prepare_configured(service, url)
            urls[f"{service}:{province}"] = url
        configured = settings.database_url
        if configured:
            await _prepare_configured(service, configured)
            urls[service] = configured
            continue
        if admin is None:
            admin = embedded_pg.start(common.data_dir / "pg", stop_at_exit=True)
        _, urls[service] = await prepare_service_database(admin, service)
    return urls


async def _prepare_configured(service: str, url: str) -> None:
    """A configured server: migrate it as configured (that URL must own the schema)."""
    from services.common.db import database_of, with_database

    await prepare_service_database(with_database(url, "postgres"), service, database_of(url))


@dataclass
class Child:
    name: str
    argv: list[str]
    health_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0  # in a row, without a minute of running in between
    started_at: float = 0.0
    restart_at: float | None = None  # when a dead child is due to start again


BACKOFF_S = (1, 2, 4, 8, 16, 30)
STABLE_S = 60.0  # a child that ran this long before dying starts again after 1 s


class Supervisor:
    """Starts the children, restarts those that die, stops them all."""

    def __init__(self, children: list[Child], say: Callable[[str], None]) -> None:
        self.children = children
        self.say = say

    def start(self, child: Child) -> None:
        # A session of its own: Ctrl-C in the terminal reaches the launcher only.
        child.process = subprocess.Popen(
            child.argv, env={**os.environ, **child.env}, start_new_session=True
        )
        child.started_at = time.monotonic()

    def start_all(self) -> None:
        for child in self.children:
            self.start(child)
            assert child.process is not None
            self.say(f"[up] started {child.name} (pid {child.process.pid})")

    def check(self, now: float | None = None) -> None:
        """Notice children that died and start those whose pause is over."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    self.start(child)
                    assert child.process is not None
                    self.say(f"[up] {child.name} started again (pid {child.process.pid})")
                continue
            if child.process is None or child.process.poll() is None:
                continue
            # A server's worker processes outlive their killed master (and would keep its
            # port): the child's session is its own process group, so end the whole group.
            _kill_group(child.process.pid)
            if now - child.started_at >= STABLE_S:
                child.restarts = 0
            pause = BACKOFF_S[min(child.restarts, len(BACKOFF_S) - 1)]
            child.restarts += 1
            child.restart_at = now + pause
            self.say(
                f"[up] {child.name} exited (code {child.process.returncode}); "
                f"starting it again in {pause} s (restart {child.restarts})"
            )

    def stop_all(self, timeout_s: float = 10) -> None:
        running = [c for c in reversed(self.children) if c.process and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.terminate()
        deadline = time.monotonic() + timeout_s
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
                self.say(f"[up] {child.name} did not stop in time; killed")
            _kill_group(child.process.pid)


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of a child's process group (its session, `start_new_session`)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _port(url: str) -> int:
    return urlsplit(url).port or 80


def _unless_set(**env: str) -> dict[str, str]:
    """Defaults for a child's environment that the operator's own variables override."""
    return {k: v for k, v in env.items() if k not in os.environ}


def _children(db_urls: dict[str, str], host: str) -> list[Child]:
    common = get_common_settings()
    py = sys.executable
    children = []
    # localstripe listens where the voucher service's Stripe address points; the ledger
    # reconciles against it and the web's pay page loads its Stripe.js from it.
    voucher = _service_settings("voucher")
    stripe_base = voucher.stripe_api_base.rstrip("/")
    stripe_port = _port(stripe_base)
    extra_env = {
        "ledger": _unless_set(
            YIYANG_LEDGER_STRIPE_API_BASE=stripe_base,
            YIYANG_LEDGER_STRIPE_SECRET_KEY=voucher.stripe_secret_key,
        )
    }
    for service, url in (
        ("provider", common.provider_url),
        ("ledger", common.ledger_url),
        ("voucher", common.voucher_url),
    ):
        children.append(
            Child(
                service,
                [
                    py,
                    "-m",
                    "services.cli",
                    "serve",
                    service,
                    "--host",
                    host,
                    "--port",
                    str(_port(url)),
                    "--workers",
                    str(SERVICE_WORKERS),
                ],
                f"{url}/readyz",
                {
                    f"YIYANG_{service.upper()}_DATABASE_URL": db_urls[service],
                    **extra_env.get(service, {}),
                },
            )
        )
    # localstripe delivers payment_intent events to the voucher service's webhook, signed
    # with the voucher service's webhook secret, as Stripe does in production.
    # (Through the environment: a secret on the command line is visible to every user.)
    children.append(
        Child(
            "localstripe",
            [py, "-m", "services.cli", "localstripe", "--host", host, "--port", str(stripe_port)],
            f"http://{host}:{stripe_port}/v1/customers",
            {
                "YIYANG_STRIPE_WEBHOOK_URL": f"{common.voucher_url}/v1/stripe/webhook",
                "YIYANG_STRIPE_WEBHOOK_SECRET": voucher.stripe_webhook_secret,
            },
        )
    )
    if importlib.util.find_spec("services.voucher.relay"):
        children.append(
            Child(
                "relay",
                [py, "-m", "services.cli", "relay"],
                None,
                {"YIYANG_VOUCHER_DATABASE_URL": db_urls["voucher"]},
            )
        )
    if importlib.util.find_spec("services.voucher.detector"):
        children.append(
            Child(
                "detector",
                [py, "-m", "services.cli", "detect"],
                None,
                {"YIYANG_VOUCHER_DATABASE_URL": db_urls["voucher"]},
            )
        )
    if importlib.util.find_spec("services.voucher.scheduler"):
        children.append(
            Child(
                "scheduler",
                [py, "-m", "services.cli", "scheduler"],
                None,
                {"YIYANG_VOUCHER_DATABASE_URL": db_urls["voucher"]},
            )
        )
    if importlib.util.find_spec("web.main"):
        children.append(
            Child(
                "web",
                [
                    py,
                    "-m",
                    "services.cli",
                    "serve",
                    "web",
                    "--host",
                    host,
                    "--port",
                    str(_port(common.web_url)),
                    "--workers",
                    str(WEB_WORKERS),
                ],
                f"{common.web_url}/readyz",
                {
                    "YIYANG_WEB_DATABASE_URL": db_urls["web"],
                    **_unless_set(YIYANG_WEB_STRIPE_JS_URL=f"{stripe_base}/js.stripe.com/v3/"),
                },
            )
        )
    return children


class StartFailed(RuntimeError):
    pass


def _wait_healthy(child: Child, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process and child.process.poll() is not None:
            raise StartFailed(f"{child.name} exited with code {child.process.returncode}")
        if child.health_url is None:
            return
        try:
            r = httpx.get(
                child.health_url, timeout=2, headers={"Authorization": "Bearer sk_test_yiyang"}
            )
            if r.status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise StartFailed(f"{child.name} did not become ready in {timeout_s:.0f}s")


def terminate_as_interrupt(*_: object) -> None:
    """A SIGTERM handler: SIGTERM (systemd, kill, a CI timeout) stops as Ctrl-C does, through
    the same clean-up."""
    raise KeyboardInterrupt


def up(*, demo: bool, host: str = "127.0.0.1") -> int:
    common = get_common_settings()
    print(
        "[up] preparing databases (embedded PostgreSQL unless URLs are configured)...", flush=True
    )
    db_urls = asyncio.run(prepare_databases())
    supervisor = Supervisor(_children(db_urls, host), lambda line: print(line, flush=True))
    status = 0

    signal.signal(signal.SIGTERM, terminate_as_interrupt)
    try:
        supervisor.start_all()
        for child in supervisor.children:
            _wait_healthy(child)
            print(f"[up] {child.name} ready", flush=True)
        if demo:
            print("[up] loading demo data...", flush=True)
            from services import demo as demo_module

            demo_module.main(["--web-database-url", db_urls["web"]])
        _print_where(common)
        while True:
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except StartFailed as exc:
        print(f"[up] could not start: {exc}; its output is above", flush=True)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        print("\n[up] stopping...", flush=True)
        supervisor.stop_all()
        embedded_pg.stop(common.data_dir / "pg")
        print("[up] stopped", flush=True)
    return status


def _print_where(common: CommonSettings) -> None:
    print(
        "\n"
        "Yiyang is running:\n"
        f"  web (open this)   {common.web_url}/\n"
        f"  voucher service   {common.voucher_url}/docs\n"
        f"  provider service  {common.provider_url}/docs\n"
        f"  ledger service    {common.ledger_url}/docs\n"
        f"  data folder       {Path(common.data_dir).resolve()}\n"
        "Tokens for the APIs: python3 dev.py token --role auditor --region 450000\n"
        "Press Ctrl-C to stop everything.\n",
        flush=True,
    )
