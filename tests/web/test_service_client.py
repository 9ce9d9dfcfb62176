"""The web's calls to the services (web/clients.py): a read whose connection failed before an
answer is asked once more; a write never is; a service that stays unreachable is said as
SERVICE_UNAVAILABLE (系统暂时忙). The network is faked (httpx.MockTransport): it is outside."""

from __future__ import annotations

import httpx
import pytest

from web.clients import ApiError, ServiceClient


def flaky(
    failures: int, error: type[httpx.TransportError]
) -> tuple[httpx.MockTransport, list[str]]:
    """A network that drops the first `failures` requests with `error`, then answers."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) <= failures:
            raise error("dropped", request=request)
        return httpx.Response(200, json={"ok": True})

    return httpx.MockTransport(handle), seen


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.RemoteProtocolError])
async def test_a_read_whose_connection_failed_is_asked_once_more(error, monkeypatch):
    monkeypatch.setattr("web.clients.RETRY_PAUSE_S", 0)
    transport, seen = flaky(1, error)
    client = ServiceClient("http://svc", "token", transport=transport)
    assert await client.json("GET", "/v1/x") == {"ok": True}
    assert seen == ["GET", "GET"]
    transport, seen = flaky(2, error)  # still unreachable: said, not retried for ever
    client = ServiceClient("http://svc", "token", transport=transport)
    with pytest.raises(ApiError) as refused:
        await client.json("GET", "/v1/x")
    assert (refused.value.status, refused.value.code) == (503, "SERVICE_UNAVAILABLE")
    assert seen == ["GET", "GET"]


async def test_a_write_is_never_repeated_by_the_client(monkeypatch):
    monkeypatch.setattr("web.clients.RETRY_PAUSE_S", 0)
    transport, seen = flaky(1, httpx.ConnectError)
    client = ServiceClient("http://svc", "token", transport=transport)
    with pytest.raises(ApiError) as refused:
        await client.json("POST", "/v1/x", json={})
    assert refused.value.code == "SERVICE_UNAVAILABLE" and seen == ["POST"]


async def test_a_read_that_timed_out_is_not_asked_again(monkeypatch):
    monkeypatch.setattr("web.clients.RETRY_PAUSE_S", 0)
    transport, seen = flaky(1, httpx.ReadTimeout)
    client = ServiceClient("http://svc", "token", transport=transport)
    with pytest.raises(ApiError):
        await client.json("GET", "/v1/x")
    assert seen == ["GET"]  # (a slow service is not given twice the wait)
