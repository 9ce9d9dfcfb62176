"""The voucher service app: `uvicorn services.voucher.main:app` or `create_app()` in tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.auth import service_token
from services.common.crypto import PiiCipher
from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from services.common.shards import ProvinceRouter, province_apps, province_hooks
from services.voucher.api import redemptions as redemptions_api
from services.voucher.api import router
from services.voucher.clients import LedgerClient, ProviderCredit
from services.voucher.config import VoucherSettings, get_settings
from services.voucher.repository import redemption as hot_repo
from services.voucher.repository import redemption_flow as redemption_repo
from services.voucher.service import short_codes
from services.voucher.service.anomalies import detect_forever
from services.voucher.service.circle_summary import sync_forever
from services.voucher.service.directory import ProviderDirectory
from services.voucher.service.summary import summarise_forever

log = logging.getLogger("yiyang.voucher")


def create_app(
    settings: VoucherSettings | None = None,
    *,
    directory_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The app. `directory_transport` lets tests reach an in-process provider app."""
    settings = settings or get_settings()
    common = get_common_settings()

    async def database() -> Database:
        url = await resolve_database_url("voucher", settings.database_url, common.data_dir)
        return Database(
            url,
            pool_size=settings.pool_size,
            raw_pool_size=settings.raw_pool_size,
            statement_pool_size=settings.statement_pool_size,
            statements_together=settings.redeem_together,
            application_name="yiyang-voucher",
        )

    async def start_redemption(app: FastAPI) -> None:
        directory = ProviderDirectory()
        app.state.directory = directory
        app.state.terminal_resolver = directory.resolve_terminal
        app.state.background_tasks = []
        if settings.directory_poll_interval_s > 0:
            client = httpx.AsyncClient(
                base_url=settings.provider_url or common.provider_url,
                transport=directory_transport,
                timeout=5.0,
                event_hooks=province_hooks(),
            )
            app.state.directory_client = client
            key = common.auth_private_key
            app.state.background_tasks.append(
                asyncio.create_task(
                    directory.run(
                        client,
                        lambda: service_token(key, "voucher", ttl_s=600),
                        settings.directory_poll_interval_s,
                    ),
                    name="voucher-directory",
                )
            )
        if settings.copay_retry_interval_s > 0:
            app.state.background_tasks.append(
                asyncio.create_task(
                    _copay_retry(app, settings.copay_retry_interval_s), name="voucher-copay"
                )
            )
        if settings.nonce_purge_interval_s > 0:
            app.state.background_tasks.append(
                asyncio.create_task(
                    _purge_nonces(app, settings.nonce_purge_interval_s), name="voucher-nonces"
                )
            )

        async def outbox_check() -> dict[str, Any]:
            try:
                lag = await hot_repo.progress(app.state.db.raw_pool)
            except Exception as exc:
                return {"ok": False, "error": type(exc).__name__}
            # Ready while the relay keeps up; a stuck relay shows as not ready. The backlog
            # is counted up to a cap (GET /v1/outbox/lag counts it all).
            return {
                "ok": lag.oldest_age_s < 300,
                "undelivered": lag.undelivered,
                "undelivered_at_least": lag.at_least,
                "oldest_age_s": round(lag.oldest_age_s, 3),
            }

        async def directory_check() -> dict[str, Any]:
            # Reported, not required: codes, lists and voids work without the directory;
            # redemptions answer PROVIDER_NOT_APPROVED / 401 until it is loaded.
            return {
                "ok": True,
                "loaded": directory.loaded.is_set(),
                "version": directory.version,
                "last_error": directory.last_error,
            }

        app.state.readiness_checks = {"outbox": outbox_check, "directory": directory_check}
        # Credit events of confirmed alerts go to the provider service (the same base
        # address and transport as the directory feed).
        app.state.provider_http = httpx.AsyncClient(
            base_url=settings.provider_url or common.provider_url,
            transport=directory_transport,
            timeout=10.0,
            event_hooks=province_hooks(),
        )
        app.state.provider_credit = ProviderCredit(app.state.provider_http)
        if settings.anomaly_interval_s > 0:
            app.state.background_tasks.append(
                asyncio.create_task(
                    detect_forever(
                        app.state.db,
                        directory,
                        interval_s=settings.anomaly_interval_s,
                        settle_s=settings.anomaly_settle_s,
                        batch_size=settings.anomaly_batch_size,
                    ),
                    name="voucher-anomalies",
                )
            )

        if settings.summary_interval_s > 0:
            app.state.background_tasks.append(
                asyncio.create_task(
                    summarise_forever(
                        app.state.db,
                        interval_s=settings.summary_interval_s,
                        settle_s=settings.summary_settle_s,
                        batch_size=settings.summary_batch_size,
                    ),
                    name="voucher-summary",
                )
            )
            app.state.background_tasks.append(
                asyncio.create_task(
                    sync_forever(
                        app.state.db,
                        directory,
                        settings,
                        interval_s=settings.summary_interval_s,
                    ),
                    name="voucher-care-circle",
                )
            )

    async def stop_redemption(app: FastAPI) -> None:
        for task in getattr(app.state, "background_tasks", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for name in ("directory_client", "provider_http"):
            client = getattr(app.state, name, None)
            if client is not None:
                await client.aclose()

    async def start_programs_and_issuance(app: FastAPI) -> None:
        from services.voucher.service import programs
        from services.voucher.service.issuance import IssuanceEngine

        try:
            async with app.state.db.unit_of_work() as session:
                created = await programs.ensure_defaults(session)
            if created:
                log.info("programs loaded from defaults: %s", ", ".join(created))
        except Exception as exc:
            log.error("programs not loaded (is the database migrated?): %s", type(exc).__name__)
        try:
            from services.voucher.service.roster import fill_search_keys

            filled = await fill_search_keys(app.state.db, app.state.pii_cipher)
            if filled:
                log.info("roster search keys filled for %d people", filled)
        except Exception as exc:
            log.error("roster search keys not filled: %s", type(exc).__name__)
        common = get_common_settings()
        # Tests (and anything embedding the service) may inject the ledger's client.
        http = getattr(app.state, "ledger_client", None)
        if http is None:
            http = httpx.AsyncClient(
                base_url=settings.ledger_url or common.ledger_url, event_hooks=province_hooks()
            )
            app.state.owned_ledger_client = http
        app.state.ledger = LedgerClient(
            http, common.auth_private_key, timeout_s=settings.ledger_timeout_s
        )
        app.state.issuance_engine = IssuanceEngine(
            app.state.db,
            app.state.ledger,
            settings.issuance_chunk_size,
            lease_s=settings.issuance_lease_s,
            wait_s=settings.issuance_wait_s,
        )
        if settings.expiry_interval_s > 0:
            app.state.expiry_task = asyncio.create_task(_expire_forever(app))

    async def stop(app: FastAPI) -> None:
        task = getattr(app.state, "expiry_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        owned = getattr(app.state, "owned_ledger_client", None)
        if owned is not None:
            await owned.aclose()

    async def _expire_forever(app: FastAPI) -> None:
        from services.voucher.service.issuance import expire_lapsed

        while True:
            await asyncio.sleep(settings.expiry_interval_s)
            try:
                result = await expire_lapsed(app.state.db)
                if result.expired:
                    log.info(
                        "vouchers lapsed: %d, released %d fen",
                        result.expired,
                        result.released_fen,
                    )
            except Exception as exc:
                log.error("voucher lapse failed: %s", type(exc).__name__)

    app = create_service_app(
        name="voucher",
        title="Yiyang voucher service",
        description=__doc__ or "",
        database=database,
        routers=[router],
        on_startup=[start_programs_and_issuance, start_redemption],
        on_shutdown=[stop_redemption, stop],
    )
    app.state.settings = settings
    # The redemption hot path is matched first (see api/redemptions.py, `hot_route`).
    app.router.routes.insert(0, redemptions_api.hot_route())
    app.state.pii_cipher = PiiCipher(settings.pii_encryption_key, settings.pii_hash_key)
    return app


async def _purge_nonces(app: FastAPI, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            # A minute of slack: a token is refused as expired long before its nonce goes.
            async with app.state.db.unit_of_work() as session:
                await redemption_repo.purge_nonces(
                    session, datetime.now(UTC) - timedelta(minutes=1)
                )
            # the short numeric codes go with their tokens
            await short_codes.purge(app.state.db, datetime.now(UTC) - timedelta(minutes=1))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("nonce purge failed: %s", type(exc).__name__)


async def _copay_retry(app: FastAPI, interval_s: float) -> None:
    """Refunds Stripe has not confirmed are sent again; open online co-payments whose
    webhook may be lost are re-read from Stripe (service/copay_refund.py, copay.py)."""
    from services.voucher.api.copay import gateway_of
    from services.voucher.service import copay, copay_refund

    while True:
        await asyncio.sleep(interval_s)
        try:
            db = app.state.db
            done = await copay_refund.retry_due(db, gateway_of(app))
            captured = await copay.sync_open(db, gateway_of(app))
            if done or captured:
                log.info("co-payments: %d refunds confirmed, %d payments synced", done, captured)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("co-payment retry failed: %s", type(exc).__name__)


def create_service(
    settings: VoucherSettings | None = None,
    *,
    directory_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI | ProvinceRouter:
    """What `uvicorn services.voucher.main:app` serves: the app on its one database, or with
    `YIYANG_VOUCHER_SHARDS` one app per province behind the province router, with the
    national dashboard over them all and the Stripe webhook routed by its event
    (docs/shards.md)."""
    from services.voucher.service.national import national_dashboard
    from services.voucher.service.webhook_routing import stripe_webhook

    settings = settings or get_settings()
    if not settings.shards:
        return create_app(settings, directory_transport=directory_transport)
    apps = province_apps(settings, lambda s: create_app(s, directory_transport=directory_transport))
    # Routes answered over the provinces: the national dashboard; the Stripe webhook, whose
    # province is in the event's metadata.
    routes = {"/v1/national/dashboard": national_dashboard, "/v1/stripe/webhook": stripe_webhook}
    return ProvinceRouter("voucher", apps, routes=routes)


app = create_service()
