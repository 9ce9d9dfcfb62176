"""Provinces as shards (docs/shards.md).

A service may hold several provinces, each in a database of its own (the province's cluster,
where its data stays): `YIYANG_<SERVICE>_SHARDS="45=postgresql://...;44=postgresql://..."`
maps two-digit province prefixes (GB/T 2260) to the service's database in that province.
Unset, the service has its one database and nothing here runs on a request.

With shards, the process serves one complete app per province (each with its own database,
background tasks, provider directory and outbox) behind a `ProvinceRouter`, which sends each
request to the app of the province it concerns, decided from what the caller already sends,
in this order:

1. the `X-Yiyang-Province` header (service-to-service calls: `add_province_header`);
2. a `region_code` query parameter;
3. the credential: a token's `region` (officers, finance, auditors), else a province-made id
   it names (`provider_id`, `beneficiary_ids`, `sub`); a terminal secret's terminal id;
4. a province-made id in the path (every id a request can name is made with `new_uuid`:
   people, vouchers, providers, terminals, redemptions, claims, batches, issuance runs,
   alerts, recoveries, licence documents).

Ids made in a province carry it: with a province set, `services.common.ids.new_uuid` writes
the province's two digits as the last byte of the UUID (`...-xxxxxxxxxx45`), so a voucher,
person, provider, terminal, redemption or claim id finds its shard with no lookup and no
fan-out. Nothing determinable is 422 PROVINCE_UNKNOWN.

While a request (or a background task started by a province's app) runs, `PROVINCE` holds its
province: ids are stamped with it, `province_code()` is its code (what region codes must lie
under), `regions.regions()` is its table of divisions, and outgoing calls to other services
carry it in the header, so a province's voucher app reaches the same province's ledger and
provider apps.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
from pydantic_settings import BaseSettings
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.errors import ProvinceUnknown

PROVINCE: ContextVar[str | None] = ContextVar("yiyang_province", default=None)
HEADER = "X-Yiyang-Province"
_HEADER_KEY = HEADER.lower().encode()
_TERMINAL_PREFIX = "yyt_"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Paths any province's app answers alike (no data): served by the first province's app.
_ANY_PROVINCE = ("/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


# --- the map ------------------------------------------------------------------------------


def parse_shards(text: str | None) -> dict[str, str]:
    """`"45=url;44=url"` -> {"45": url, "44": url}; empty or unset -> {} (one database)."""
    out: dict[str, str] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        prefix, sep, url = part.partition("=")
        prefix, url = prefix.strip(), url.strip()
        if not sep or len(prefix) != 2 or not prefix.isdigit() or prefix == "00" or not url:
            raise ValueError(
                "a shard is PP=URL with PP a two-digit province prefix (45, 44, ...), "
                "several separated by ';'"
            )
        if prefix in out:
            raise ValueError(f"province {prefix} is mapped twice")
        out[prefix] = url
    return out


def check_shards(value: str) -> str:
    """A settings validator: the map must parse (a mistake stops the process at start)."""
    parse_shards(value)
    return value


# --- the province of a request, an id, a region ----------------------------------------------


def current_province() -> str | None:
    """The province being served (None: this process has one database, no shards)."""
    return PROVINCE.get()


def province_code() -> str:
    """The six-digit code of the province served now: the shard's, else the deployment's
    `YIYANG_PROVINCE_CODE`. Region codes a request names must lie under it."""
    province = PROVINCE.get()
    if province is not None:
        return f"{province}0000"
    from services.common.settings import get_common_settings

    return get_common_settings().province_code


@contextlib.contextmanager
def in_province(province: str | None) -> Iterator[None]:
    token = PROVINCE.set(province)
    try:
        yield
    finally:
        PROVINCE.reset(token)


def stamp(value: int, province: str) -> int:
    """A 128-bit UUID value with its last byte the province's two digits (0x45 for 45)."""
    return (value & ~0xFF) | int(province, 16)


def province_of_id(value: object) -> str | None:
    """The province an id was made in: its last two hex digits when both are decimal digits
    (only meaningful for ids made with shards; the router checks the map)."""
    tail = str(value)[-2:]
    return tail if tail.isdigit() else None


def same_province(record_id: object) -> bool:
    """Whether a province-made id belongs to the province served now (always, without
    shards: one ContextVar read)."""
    province = PROVINCE.get()
    return province is None or province_of_id(record_id) == province


async def add_province_header(request: httpx.Request) -> None:
    """httpx request hook of every service-to-service client: the call concerns the province
    being served (nothing is added without shards)."""
    province = PROVINCE.get()
    if province is not None and HEADER not in request.headers:
        request.headers[HEADER] = province


def province_hooks() -> dict[str, list[Callable[..., Any]]]:
    """`httpx.AsyncClient(..., event_hooks=province_hooks())`."""
    return {"request": [add_province_header]}


def _claims(token: str) -> dict[str, Any] | None:
    """A JWT's claims, unverified: routing only chooses the app; that app still verifies
    the signature and the scope, so a forged claim reaches nothing it could not anyway."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    body = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def province_of_credential(authorization: str, served: Mapping[str, Any]) -> str | None:
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    if credential.startswith(_TERMINAL_PREFIX):  # yyt_<terminal id>.<secret>
        terminal_id = credential[len(_TERMINAL_PREFIX) :].partition(".")[0]
        province = province_of_id(terminal_id)
        return province if province in served else None
    claims = _claims(credential)
    if claims is None:
        return None
    region = claims.get("region")
    if isinstance(region, str) and len(region) >= 2 and region[:2].isdigit():
        return region[:2]
    ids = [claims.get("provider_id"), *(claims.get("beneficiary_ids") or ()), claims.get("sub")]
    for value in ids:
        if isinstance(value, str) and _UUID.fullmatch(value):
            province = province_of_id(value)
            if province in served:
                return province
    return None


def province_in_text(text: str, served: Mapping[str, Any]) -> str | None:
    """The province of the first province-made id of a served province found in `text`."""
    for match in _UUID.finditer(text):
        province = province_of_id(match.group())
        if province in served:
            return province
    return None


def province_of_request(scope: Scope, served: Mapping[str, Any]) -> str | None:
    """The province a request concerns (module docstring, in that order), or None."""
    authorization: str | None = None
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            return str(value.decode("latin-1").strip())
        if key == b"authorization":
            authorization = value.decode("latin-1")
    query: bytes = scope.get("query_string") or b""
    if b"region_code=" in query:
        codes = parse_qs(query.decode("latin-1")).get("region_code") or [""]
        if codes[0][:2].isdigit():
            return codes[0][:2]
    if authorization is not None:
        province = province_of_credential(authorization, served)
        if province is not None:
            return province
    return province_in_text(scope["path"], served)


# --- one app per province -------------------------------------------------------------------

RouterHandler = Callable[["ProvinceRouter", Request], Awaitable[Response]]


class ProvinceRouter:
    """The ASGI app of a sharded service: the app of each province, each on its database,
    and the request router in front (module docstring). Its lifespan starts every
    province's app with `PROVINCE` set, so the background tasks each one starts (the
    directory poll, anomaly detection, expiry, ...) work on that province only.
    `routes` are answered by the router itself: over every province (the national
    dashboard), or to the province found in the body (the Stripe webhook)."""

    def __init__(
        self,
        name: str,
        apps: Mapping[str, ASGIApp],
        *,
        routes: Mapping[str, RouterHandler] | None = None,
    ) -> None:
        if not apps:
            raise ValueError("a ProvinceRouter needs at least one province")
        self.name = name
        self.apps: dict[str, Any] = dict(apps)
        self.routes = dict(routes or {})
        self.state = State()
        self.router = Router(lifespan=self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, _app: object) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for province, app in self.apps.items():
                with in_province(province):
                    await stack.enter_async_context(app.router.lifespan_context(app))
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.router(scope, receive, send)  # lifespan
            return
        path = scope["path"]
        handler = self.routes.get(path)
        if handler is not None:
            response = await handler(self, Request(scope, receive))
        elif path == "/readyz":
            response = await self._readyz()
        else:
            province = province_of_request(scope, self.apps)
            if province is None and path in _ANY_PROVINCE:
                province = next(iter(self.apps))
            app = self.apps.get(province) if province is not None else None
            if app is None:
                refusal = ProvinceUnknown(field="region_code")
                response = JSONResponse(refusal.body(), status_code=refusal.status_code)
            else:
                with in_province(province):
                    await app(scope, receive, send)
                return
        await response(scope, receive, send)

    async def call(self, province: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to a province's app, in process (the router's own routes use it)."""
        with in_province(province):
            transport = httpx.ASGITransport(app=self.apps[province])
            async with httpx.AsyncClient(transport=transport, base_url="http://shard") as client:
                return await client.request(method, path, **kwargs)

    async def forward(self, province: str, request: Request, body: bytes) -> Response:
        """`request` (whose body was read: `body`) as it is to a province's app, for a route
        that must read the body to know its province (the Stripe webhook)."""
        headers = [
            (k, v) for k, v in request.headers.items() if k not in ("host", "content-length")
        ]
        r = await self.call(
            province, request.method, request.url.path, content=body, headers=headers
        )
        return Response(r.content, status_code=r.status_code, headers=dict(r.headers))

    async def _readyz(self) -> JSONResponse:
        """Ready when every province's app is (each one's `/readyz` under its province)."""
        shards: dict[str, Any] = {}
        ok = True
        for province in self.apps:
            r = await self.call(province, "GET", "/readyz")
            shards[province] = r.json()
            ok = ok and r.status_code == 200
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "service": self.name, "shards": shards},
            status_code=200 if ok else 503,
        )


S = TypeVar("S", bound=BaseSettings)
T = TypeVar("T")


def province_apps(settings: S, build: Callable[[S], ASGIApp]) -> dict[str, ASGIApp]:
    """One app per province of `settings.shards`, each built from the same settings with
    its shard's database URL."""
    return {
        province: build(settings.model_copy(update={"shards": "", "database_url": url}))
        for province, url in parse_shards(getattr(settings, "shards", "")).items()
    }


async def each_database(
    shards: str,
    single_url: Callable[[], Awaitable[str]],
    run: Callable[[str | None, str], Awaitable[T]],
) -> list[T]:
    """`run(province, url)` for every province of a shard map, concurrently, each with its
    province set (the processes beside a service: the relay, the scheduler, the detector);
    without shards, once on `single_url()` with no province."""
    mapping = parse_shards(shards)
    if not mapping:
        return [await run(None, await single_url())]

    async def one(province: str, url: str) -> T:
        with in_province(province):
            return await run(province, url)

    return list(await asyncio.gather(*(one(p, url) for p, url in mapping.items())))
