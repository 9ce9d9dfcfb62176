"""Settings of the voucher service (env prefix `YIYANG_VOUCHER_`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import refuse_dev_secrets


class VoucherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_VOUCHER_", extra="ignore")

    # Unset: the embedded PostgreSQL is started and this service's database created in it.
    database_url: str | None = None
    pool_size: int = 10

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> "VoucherSettings":
        refuse_dev_secrets(self)
        return self


@lru_cache
def get_settings() -> VoucherSettings:
    return VoucherSettings()
