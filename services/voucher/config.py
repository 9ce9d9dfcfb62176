"""Settings of the voucher service (env prefix `YIYANG_VOUCHER_`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import dev_keys
from services.common.settings import refuse_dev_secrets


class VoucherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_VOUCHER_", extra="ignore")

    # Unset: the embedded PostgreSQL is started and this service's database created in it.
    database_url: str | None = None
    pool_size: int = 10

    # Personal data at rest (national ID, phone): AES-256-GCM key and HMAC lookup-hash key,
    # 32 bytes hex each. The development defaults are refused outside development and test.
    pii_encryption_key: str = dev_keys.DEV_PII_ENCRYPTION_KEY
    pii_hash_key: str = dev_keys.DEV_PII_HASH_KEY

    # The ledger (budget commitments). Unset: the common `YIYANG_LEDGER_URL`.
    ledger_url: str | None = None
    ledger_timeout_s: float = 30.0
    # Beneficiaries per budget commitment in an issuance run.
    issuance_chunk_size: int = 500
    # How often lapsed vouchers are expired and their unused balance released (0 = never).
    expiry_interval_s: float = 60.0

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> VoucherSettings:
        refuse_dev_secrets(self)
        return self


@lru_cache
def get_settings() -> VoucherSettings:
    return VoucherSettings()
