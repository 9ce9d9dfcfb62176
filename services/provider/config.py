"""Settings of the provider service (env prefix `YIYANG_PROVIDER_`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import dev_keys
from services.common.settings import refuse_dev_secrets
from services.common.shards import check_shards


class ProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_PROVIDER_", extra="ignore")

    # Unset: the embedded PostgreSQL is started and this service's database created in it.
    database_url: str | None = None
    # Provinces as shards (docs/shards.md): "45=postgresql://...;44=postgresql://..." maps
    # two-digit province prefixes to this service's database in each province; the process
    # then serves every province, each request in its own. Unset: the one database above.
    shards: Annotated[str, AfterValidator(check_shards)] = ""
    pool_size: int = 10

    # Keys for sensitive fields at rest (contact phone, settlement account number).
    pii_encryption_key: str = dev_keys.DEV_PII_ENCRYPTION_KEY
    pii_hash_key: str = dev_keys.DEV_PII_HASH_KEY

    # Credit supervision: when a provider's credit points reach this total, an approved
    # provider is suspended automatically (recorded in its history with the reason).
    credit_suspend_threshold: int = 12

    # Nearby search: the 15-minute care circle by default, never wider than the maximum.
    nearby_default_radius_m: int = 1000
    nearby_max_radius_m: int = 50_000
    nearby_max_results: int = 200
    # Licence documents uploaded with an application: at most this size each, this many each
    # provider (the common upload limit, YIYANG_MAX_UPLOAD_BYTES, bounds the request).
    document_max_bytes: int = 5 * 1024 * 1024
    document_max_count: int = 20

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> ProviderSettings:
        refuse_dev_secrets(self)
        return self


@lru_cache
def get_settings() -> ProviderSettings:
    return ProviderSettings()
