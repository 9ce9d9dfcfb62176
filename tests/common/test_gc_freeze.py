"""A service freezes what its start-up built out of Python's cyclic garbage collector, so a
full collection no longer walks the whole app (a pause of about 90 ms in the voucher
service, which was its p99: docs/performance.md)."""

from __future__ import annotations

import gc
import time

from services.common.settings import get_common_settings
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app
from tests.conftest import running


async def test_start_up_objects_are_frozen_and_a_full_collection_is_short(make_db, monkeypatch):
    sdb = await make_db("ledger")
    monkeypatch.setattr(get_common_settings(), "freeze_gc_at_start", True)
    before = gc.get_freeze_count()
    try:
        async with running(create_app(LedgerSettings(database_url=sdb.app_url))) as client:
            frozen = gc.get_freeze_count() - before
            assert frozen > 50_000  # the app, its modules and everything alive at start-up
            assert (await client.get("/healthz")).status_code == 200
            started = time.perf_counter()
            gc.collect()
            pause = time.perf_counter() - started
            # a collection leaves them there (the few freed since, by their last reference, go)
            assert gc.get_freeze_count() - before > frozen * 0.99
        # (the pause is reported, not judged: timings are for the benchmarks)
        print(f"full collection with start-up frozen: {pause * 1000:.1f} ms")
    finally:
        gc.unfreeze()


async def test_off_it_freezes_nothing(make_db):
    sdb = await make_db("ledger")
    assert get_common_settings().freeze_gc_at_start is False  # tests/conftest.py
    before = gc.get_freeze_count()
    async with running(create_app(LedgerSettings(database_url=sdb.app_url))):
        assert gc.get_freeze_count() == before
