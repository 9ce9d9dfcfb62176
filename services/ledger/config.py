"""Settings of the ledger service (env prefix `YIYANG_LEDGER_`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import dev_keys
from services.common.settings import refuse_dev_secrets, refuse_local_addresses
from services.common.shards import check_shards


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_LEDGER_", extra="ignore")

    # Unset: the embedded PostgreSQL is started and this service's database created in it.
    database_url: str | None = None
    # Provinces as shards (docs/shards.md): "45=postgresql://...;44=postgresql://..." maps
    # two-digit province prefixes to this service's database in each province; the process
    # then serves every province, each request in its own. Unset: the one database above.
    shards: Annotated[str, AfterValidator(check_shards)] = ""
    pool_size: int = 10
    # Stripe (localstripe in development) for reconciling co-payments against Stripe's own
    # records; unset: that check is skipped and the report says so. Outside development and
    # test it must be https to a public host (no loopback or private address).
    stripe_api_base: str | None = None
    stripe_secret_key: str | None = None
    # Bank account numbers in payment lines and stored instruction files: AES-256-GCM key
    # (and the HMAC key PiiCipher carries), hex; the development keys are refused elsewhere.
    pii_encryption_key: str = dev_keys.DEV_PII_ENCRYPTION_KEY
    pii_hash_key: str = dev_keys.DEV_PII_HASH_KEY
    # Signed checkpoints of the chain's head (docs/ledger.md, "Signed checkpoints"): the
    # ledger's own Ed25519 key (PEM); when rotating, the key it replaces, which signs the
    # hand-over to the new one. The file (append-only, owner-only; unset: checkpoints.jsonl
    # under YIYANG_DATA_DIR/ledger) is the copy the auditor's office keeps; a checkpoint is
    # written every `checkpoint_interval_s` when the head has moved (0: only at period close).
    checkpoint_private_key: str = dev_keys.DEV_LEDGER_CHECKPOINT_PRIVATE_KEY
    checkpoint_previous_private_key: str | None = None
    checkpoint_file: Path | None = None
    checkpoint_interval_s: float = 300.0
    # The balance snapshot job (service/snapshots.py): one at every day's start, taken every
    # `snapshot_interval_s` (0: only at period close).
    snapshot_interval_s: float = 3600.0

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> LedgerSettings:
        refuse_dev_secrets(self)
        refuse_local_addresses(self, "stripe_api_base")
        return self


@lru_cache
def get_settings() -> LedgerSettings:
    return LedgerSettings()
