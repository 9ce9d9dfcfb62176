"""Load-test configuration, from the environment (prefix `YIYANG_LOAD_`).

The same names are read by the harness (`yiyang loadtest`), by the seeding step and by the
Locust user classes, so a run can be reproduced by exporting them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class LoadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_LOAD_", extra="ignore")

    # Seeding.
    beneficiaries: int = 2_000
    providers: int = 20
    terminals_per_provider: int = 2
    region_code: str = "450103"
    period: str | None = None  # default: the current month (Asia/Shanghai)

    # The Locust run (bounded: all three are always passed to Locust).
    users: int = 20
    spawn_rate: float = 10.0
    run_time: str = "30s"

    # The mix a terminal user draws from (weights, not percentages).
    weight_meal: int = 55
    weight_care: int = 30
    weight_void: int = 5
    weight_replay: int = 5
    weight_invalid: int = 3
    weight_retry: int = 2

    # Where the seed manifest and the per-request outcomes are written.
    manifest: Path = Path("reports/seed-manifest.json")
    outcomes: Path = Path("reports/outcomes.jsonl")

    # Services (set by the harness; the Locust host is the voucher URL).
    voucher_url: str = "http://127.0.0.1:8001"
    provider_url: str = "http://127.0.0.1:8002"
    ledger_url: str = "http://127.0.0.1:8003"


@lru_cache
def get_load_settings() -> LoadSettings:
    return LoadSettings()
