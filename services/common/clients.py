"""Calling another Yiyang service: a service token, minted once and renewed before it expires."""

from __future__ import annotations

import time

import httpx

from services.common.auth import service_token


class ServiceClient:
    """Base of every service-to-service client. `http` is injectable (tests pass an
    in-process transport); `_headers()` carries a service token renewed a minute early."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        private_key_pem: str,
        *,
        service_name: str,
        timeout_s: float = 30.0,
        token_ttl_s: int = 3600,
    ) -> None:
        self.http = http
        self._key = private_key_pem
        self._service = service_name
        self._timeout = timeout_s
        self._ttl = token_ttl_s
        self._token: tuple[str, float] | None = None

    def _headers(self) -> dict[str, str]:
        now = time.time()
        if self._token is None or self._token[1] < now + 60:
            self._token = (
                service_token(self._key, self._service, ttl_s=self._ttl),
                now + self._ttl,
            )
        return {"Authorization": f"Bearer {self._token[0]}"}
