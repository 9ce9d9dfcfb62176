"""Settings of the voucher service (env prefix `YIYANG_VOUCHER_`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import dev_keys
from services.common.settings import refuse_dev_secrets, refuse_local_addresses
from services.common.shards import check_shards


class VoucherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_VOUCHER_", extra="ignore")

    # Unset: the embedded PostgreSQL is started and this service's database created in it.
    database_url: str | None = None
    # Provinces as shards (docs/shards.md): "45=postgresql://...;44=postgresql://..." maps
    # two-digit province prefixes to this service's database in each province; the process
    # then serves every province, each request in its own. Unset: the one database above.
    shards: Annotated[str, AfterValidator(check_shards)] = ""
    pool_size: int = 10
    # The raw asyncpg pool (prepared SQL, autocommit: code issuance, the outbox's progress).
    raw_pool_size: int = 10
    # The redemption statement's own connections a worker (services/common/statement_pool.py).
    # Few: the redemptions queued for them run together, one commit for several
    # (docs/performance.md, "Redemptions committed together"; 2, 4 and 8 measured alike).
    # Through PgBouncer (no running together) the statement has `raw_pool_size` connections.
    statement_pool_size: int = Field(default=4, ge=1)
    # Off: every redemption runs alone, one commit each (to compare, or to rule batching out
    # while diagnosing; docs/performance.md, "The sustained rate with redemptions together").
    redeem_together: bool = True

    # QR tokens: Ed25519; the public key is published for terminals to verify offline.
    qr_private_key: str = dev_keys.DEV_QR_PRIVATE_KEY
    qr_public_key: str = dev_keys.DEV_QR_PUBLIC_KEY
    qr_ttl_s: int = 60
    # The short numeric code under the QR (service/short_codes.py): its length, and how many
    # wrong ones a provider may type in a window before numeric codes are refused there.
    short_code_digits: int = Field(default=18, ge=12, le=18)
    short_code_max_failures: int = Field(default=10, ge=1)
    short_code_window_s: int = Field(default=600, ge=1)

    # The provider directory, polled from the provider service (0 = do not poll).
    directory_poll_interval_s: float = 1.0
    provider_url: str | None = None  # default: the common `YIYANG_PROVIDER_URL`
    # How often used QR nonces past their expiry are purged.
    nonce_purge_interval_s: float = 60.0

    # Personal data at rest (national ID, phone): AES-256-GCM key and HMAC lookup-hash key,
    # 32 bytes hex each. The development defaults are refused outside development and test.
    pii_encryption_key: str = dev_keys.DEV_PII_ENCRYPTION_KEY
    pii_hash_key: str = dev_keys.DEV_PII_HASH_KEY

    # The ledger (budget commitments). Unset: the common `YIYANG_LEDGER_URL`.
    ledger_url: str | None = None
    ledger_timeout_s: float = 30.0
    # Beneficiaries per budget commitment in an issuance run.
    issuance_chunk_size: int = 500
    # A run's lease on its program and period, renewed before each chunk: a run whose process
    # died is resumed by the next one after this long. Another run of the same program and
    # period waits at most issuance_wait_s for it (then 409 ISSUANCE_RUN_IN_PROGRESS).
    issuance_lease_s: float = 120.0
    issuance_wait_s: float = 600.0
    # The scheduler (`yiyang scheduler`): how often it looks for due runs, how long a claim on
    # one lasts without renewal, how long it waits before retrying a failed run, and the most
    # attempts per program, period and region before it leaves a failure to an officer.
    scheduler_interval_s: float = 60.0
    scheduler_lease_s: float = 120.0
    scheduler_retry_s: float = 900.0
    scheduler_max_attempts: int = 5

    # Co-payments online (Stripe; localstripe in development and tests). Elsewhere it must be
    # https to a public host (https://api.stripe.com): no loopback or private address.
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_secret_key: str = dev_keys.DEV_STRIPE_SECRET_KEY
    stripe_webhook_secret: str = dev_keys.DEV_STRIPE_WEBHOOK_SECRET
    # How often refunds Stripe has not confirmed are sent again, and open online
    # co-payments re-read from Stripe in case their webhook was lost (0 = never).
    copay_retry_interval_s: float = 30.0
    # How often lapsed vouchers are expired and their unused balance released (0 = never).
    expiry_interval_s: float = 60.0
    # The anomaly detector runs as its own process (`yiyang detect`, started by `yiyang up`);
    # a value > 0 also runs it inside the service, every so many seconds (docs/anomalies.md).
    # Events younger than `anomaly_settle_s` are read again on the next pass (a transaction
    # still open may commit an earlier outbox id); alerts never repeat.
    anomaly_interval_s: float = 0.0
    anomaly_settle_s: float = 60.0
    anomaly_batch_size: int = 500
    # The dashboard's summaries (docs/dashboard.md "Summaries"): the service folds the
    # outbox's redemption and void events into `summary_use` every `summary_interval_s`
    # (0 = only on demand, before a dashboard read), events younger than `summary_settle_s`
    # left for the next pass (a transaction still open may commit an earlier outbox id).
    summary_interval_s: float = 5.0
    summary_settle_s: float = 2.0
    summary_batch_size: int = 5_000
    # Points of the credit event an officer's confirmation of an alert records on the
    # provider (the provider service suspends at its threshold, 12 by default: a second
    # confirmed finding suspends).
    alert_credit_points: int = 6

    # Receipts (service/reviews.py): the person confirms or disputes a redemption within
    # `review_window_days`; officers answer a dispute (and an appeal) within
    # `dispute_answer_days`, shown "at risk" in its last `dispute_at_risk_days`; the person
    # may appeal a decision once, within `appeal_window_days`.
    review_window_days: int = Field(default=7, ge=1, le=365)
    dispute_answer_days: int = Field(default=15, ge=1, le=365)
    dispute_at_risk_days: int = Field(default=3, ge=0, le=365)
    appeal_window_days: int = Field(default=15, ge=1, le=365)
    # Home visits (service/visits.py): a check-in or check-out position must lie within this
    # many metres of the elder's registered location when that location is exact.
    visit_radius_m: int = Field(default=300, ge=10, le=50_000)
    # The dashboard's 15-minute care circle (service/care_circle.py): a meal point within
    # this many metres of an exactly located person, and a care provider within that many;
    # how many communities with the most uncovered people it lists.
    care_circle_meal_radius_m: int = Field(default=1_000, ge=50, le=50_000)
    care_circle_care_radius_m: int = Field(default=1_500, ge=50, le=50_000)
    care_circle_top_communities: int = Field(default=10, ge=1, le=100)

    # Assessments (service/assessment.py): how long one is valid; the due list's default
    # window (GET /v1/reassessments/due); the share of a region's active people drawn each
    # quarter for a spot reassessment (basis points: 300 = 3 %, service/spot_rules.py).
    assessment_validity_months: int = Field(default=12, ge=1, le=60)
    reassessment_due_days: int = Field(default=60, ge=1, le=366)
    spot_draw_share_bp: int = Field(default=300, ge=1, le=10_000)

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> VoucherSettings:
        refuse_dev_secrets(self)
        refuse_local_addresses(self, "stripe_api_base")
        return self


@lru_cache
def get_settings() -> VoucherSettings:
    return VoucherSettings()
