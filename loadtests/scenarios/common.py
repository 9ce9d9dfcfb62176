"""What every scenario shares: the seed manifest, beneficiary tokens, outcome records."""

from __future__ import annotations

import json
import random
import threading
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from loadtests.check import token_digest
from loadtests.config import get_load_settings
from loadtests.seed import read_manifest
from services.common.auth import Role, issue_token
from services.common.settings import get_common_settings

# Business refusals a valid request may get under load (balance spent, daily limit reached):
# correct answers, counted apart from errors. Anything 5xx, or a 2xx where a refusal is due,
# is a failure.
EXPECTED_REFUSALS = {"NO_USABLE_VOUCHER", "VOUCHER_EXHAUSTED", "DAILY_LIMIT_REACHED"}


@lru_cache
def manifest() -> dict[str, Any]:
    return read_manifest(get_load_settings().manifest)


def terminals_where(meal: bool) -> list[dict[str, Any]]:
    return [t for t in manifest()["terminals"] if (t["kind"] == "meal_point") == meal]


_bearers: dict[str, str] = {}


def beneficiary_bearer(beneficiary_id: str) -> str:
    """The beneficiary's own app token (cached: signing is cheap but not free)."""
    bearer = _bearers.get(beneficiary_id)
    if bearer is None:
        token = issue_token(
            get_common_settings().auth_private_key,
            role=Role.beneficiary,
            sub=beneficiary_id,
            beneficiary_ids=(beneficiary_id,),
            name="loadtest",
        )
        bearer = _bearers[beneficiary_id] = f"Bearer {token}"
    return bearer


def random_beneficiary() -> str:
    return random.choice(manifest()["beneficiaries"])


def new_key() -> str:
    return str(uuid.uuid4())


class Outcomes:
    """One JSON line per redemption answer, for the correctness checker after the run."""

    _lock = threading.Lock()
    _file = None

    @classmethod
    def record(
        cls,
        *,
        kind: str,
        status: int,
        token: str | None,
        redemption_id: str | None,
        code: str | None = None,
        subsidy_fen: int | None = None,
    ) -> None:
        with cls._lock:
            if cls._file is None:
                path = Path(get_load_settings().outcomes)
                path.parent.mkdir(parents=True, exist_ok=True)
                cls._file = open(path, "a", buffering=1)  # noqa: SIM115 - lives for the run
            cls._file.write(
                json.dumps(
                    {
                        "kind": kind,
                        "status": status,
                        "code": code,
                        "token": token_digest(token) if token else None,
                        "redemption_id": redemption_id,
                        "subsidy_fen": subsidy_fen,
                    }
                )
                + "\n"
            )


def error_code(body: Any) -> str | None:
    try:
        return body["error"]["code"]
    except (TypeError, KeyError):
        return None
