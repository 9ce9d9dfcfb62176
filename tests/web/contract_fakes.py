"""Stand-ins for the voucher and provider services, built to SPEC.md's HTTP contract.

Those services are being built on other branches and are not on `main` yet, so the web
pages that call them are tested against these small in-memory apps. They enforce auth the
way the real services must (roles, scope, terminal secrets) through services.common.auth,
and speak the contract's JSON and error shapes. Replace them with the real apps
(`services.voucher.main.create_app` on a `make_db("voucher")` database) once those land.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import segno
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from services.common.auth import Principal, Role, require
from services.common.errors import AppError, Conflict, Forbidden, NotFound, install_error_handlers
from services.common.settings import get_common_settings


class Redeem(BaseModel):
    token: str
    service_code: str
    gross_fen: int
    idempotency_key: str


class Preview(BaseModel):
    token: str
    service_code: str
    gross_fen: int


class Issuance(BaseModel):
    program_code: str
    period: str
    region_code: str


class Reason(BaseModel):
    reason: str


def voucher_app(vouchers: dict[str, list[dict[str, Any]]], terminals: dict[str, str],
                ratio_bp: int = 8000, people: dict[str, dict[str, Any]] | None = None
                ) -> FastAPI:
    """`vouchers`: beneficiary id -> voucher rows; `terminals`: secret -> provider id;
    `people`: beneficiary id -> what GET /v1/beneficiaries/{id} answers."""
    people = people or {}
    app = FastAPI()
    app.state.auth_public_key = get_common_settings().auth_public_key
    install_error_handlers(app)
    codes: dict[str, dict[str, Any]] = {}
    app.state.codes = codes  # tests read the code a page shows from here
    redemptions: dict[str, dict[str, Any]] = {}
    by_key: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    app.state.calls = {"enrol": [], "import": [], "issuance": []}
    issued: set[tuple[str, str, str]] = set()

    async def resolve(secret: str) -> Principal | None:
        provider = terminals.get(secret)
        return Principal(sub=f"terminal:{secret[-4:]}", role=Role.terminal,
                         provider_id=provider, terminal_id="t1") if provider else None

    app.state.terminal_resolver = resolve

    @app.get("/v1/beneficiaries/{bid}/vouchers")
    async def list_vouchers(bid: str, p: Principal = require(Role.beneficiary, Role.proxy,
                                                             Role.civil_affairs)) -> Any:
        if p.role != Role.civil_affairs:
            p.ensure_beneficiary(bid)
        return vouchers.get(bid, [])

    @app.get("/v1/beneficiaries/{bid}")
    async def get_beneficiary(bid: str, p: Principal = require(
            Role.beneficiary, Role.proxy, Role.civil_affairs)) -> Any:
        if p.role != Role.civil_affairs:
            p.ensure_beneficiary(bid)
        if bid not in people:
            raise NotFound(field="beneficiary_id")
        return people[bid]

    @app.post("/v1/beneficiaries/{bid}/codes")
    async def new_code(bid: str, p: Principal = require(Role.beneficiary, Role.proxy)) -> Any:
        p.ensure_beneficiary(bid)
        token = "qr_" + uuid.uuid4().hex
        expires = datetime.now(UTC) + timedelta(seconds=60)
        codes[token] = {"beneficiary_id": bid, "expires_at": expires, "used": False}
        return {"token": token, "expires_at": expires.isoformat()}

    @app.get("/v1/codes/{token}.svg")
    async def code_svg(token: str, p: Principal = require(Role.beneficiary, Role.proxy)
                       ) -> Response:
        code = codes.get(token)
        if code is None:
            raise NotFound(field="token")
        p.ensure_beneficiary(code["beneficiary_id"])
        out = io.BytesIO()
        segno.make_qr(token, error="m").save(out, kind="svg", scale=8, border=4)
        return Response(out.getvalue(), media_type="image/svg+xml")

    @app.get("/v1/beneficiaries/{bid}/redemptions")
    async def history(bid: str, p: Principal = require(Role.beneficiary, Role.proxy)) -> Any:
        p.ensure_beneficiary(bid)
        return [r for r in redemptions.values() if r["beneficiary_id"] == bid]

    @app.post("/v1/redemptions/preview")
    async def preview(body: Preview, p: Principal = require(Role.terminal)) -> Any:
        if not app.state.preview_enabled:
            raise NotFound()
        code = codes.get(body.token)
        if code is None:
            raise AppError("bad token", code="INVALID_TOKEN", field="token", status_code=401)
        if code["used"]:
            raise Conflict("used", code="TOKEN_USED", field="token")
        voucher = next(v for v in vouchers[code["beneficiary_id"]] if v["status"] == "active")
        subsidy = min(body.gross_fen * ratio_bp // 10_000, voucher["balance_fen"])
        return {"subsidy_fen": subsidy, "copay_fen": body.gross_fen - subsidy}

    app.state.preview_enabled = False

    @app.post("/v1/redemptions", status_code=201)
    async def redeem(body: Redeem, p: Principal = require(Role.terminal)) -> Any:
        fingerprint = body.model_dump()
        if body.idempotency_key in by_key:
            seen, answer = by_key[body.idempotency_key]
            if seen != fingerprint:
                raise Conflict(code="IDEMPOTENCY_KEY_REUSED", field="idempotency_key")
            return answer
        code = codes.get(body.token)
        if code is None:
            raise AppError("bad token", code="INVALID_TOKEN", field="token", status_code=401)
        if code["used"]:
            raise Conflict("used", code="TOKEN_USED", field="token")
        if code["expires_at"] < datetime.now(UTC):
            raise AppError("expired", code="TOKEN_EXPIRED", field="token", status_code=401)
        voucher = next(v for v in vouchers[code["beneficiary_id"]] if v["status"] == "active")
        subsidy = min(body.gross_fen * ratio_bp // 10_000, voucher["balance_fen"])
        voucher["balance_fen"] -= subsidy
        code["used"] = True
        rid = str(uuid.uuid4())
        answer = {"id": rid, "subsidy_fen": subsidy, "copay_fen": body.gross_fen - subsidy,
                  "balance_fen": voucher["balance_fen"], "voucher_id": voucher["id"]}
        redemptions[rid] = {**answer, "beneficiary_id": code["beneficiary_id"],
                            "provider_id": p.provider_id, "service_code": body.service_code,
                            "gross_fen": body.gross_fen, "status": "posted", "claimed": False,
                            "created_at": datetime.now(UTC).isoformat()}
        by_key[body.idempotency_key] = (fingerprint, answer)
        return answer

    @app.get("/v1/redemptions")
    async def provider_day(provider_id: str, date: str,
                           p: Principal = require(Role.terminal, Role.provider_staff,
                                                  Role.provider_admin)) -> Any:
        p.ensure_provider(provider_id)
        return [r for r in redemptions.values()
                if r["provider_id"] == provider_id and r["created_at"][:10] <= date]

    @app.post("/v1/redemptions/{rid}/void")
    async def void(rid: str, body: Reason, p: Principal = require(
            Role.terminal, Role.provider_staff, Role.provider_admin)) -> Any:
        r = redemptions.get(rid)
        if r is None or r["provider_id"] != p.provider_id:
            raise NotFound(field="redemption_id")
        if r["status"] != "voided":
            r["status"] = "voided"
            voucher = next(v for v in vouchers[r["beneficiary_id"]] if v["id"] == r["voucher_id"])
            voucher["balance_fen"] += r["subsidy_fen"]
        return {"id": rid, "status": "voided"}

    @app.post("/v1/beneficiaries", status_code=201)
    async def enrol(request: Request, p: Principal = require(Role.civil_affairs)) -> Any:
        body = await request.json()
        p.ensure_region(body.get("region_code"))
        nid = body.get("national_id", "")
        if len(nid) != 18:
            raise AppError("bad id", code="INVALID_NATIONAL_ID", field="national_id",
                           status_code=422)
        app.state.calls["enrol"].append(body)
        return {"id": str(uuid.uuid4()), "grade": 3, "eligible_programs": ["disability_subsidy"]}

    @app.post("/v1/beneficiaries/import")
    async def import_rows(file: UploadFile = File(...),
                          p: Principal = require(Role.civil_affairs)) -> Any:
        text = (await file.read()).decode("utf-8-sig")
        rows = []
        for i, line in enumerate(text.splitlines()[1:], start=2):
            nid = line.split(",")[0]
            if len(nid) == 18:
                rows.append({"row": i, "status": "created", "id": str(uuid.uuid4())})
            else:
                rows.append({"row": i, "status": "error",
                             "error": {"code": "INVALID_NATIONAL_ID", "message": "身份证号码不正确",
                                       "field": "national_id"}})
        app.state.calls["import"].append(file.filename)
        return {"rows": rows}

    @app.post("/v1/issuance-runs", status_code=201)
    async def issuance(body: Issuance, p: Principal = require(Role.civil_affairs)) -> Any:
        p.ensure_region(body.region_code)
        key = (body.program_code, body.period, body.region_code)
        fresh = key not in issued
        issued.add(key)
        app.state.calls["issuance"].append(key)
        run = {"run_id": "run-" + "-".join(key), "status": "completed", "eligible": 3,
               "issued": 3 if fresh else 0, "skipped": 0 if fresh else 3, "failed": 0,
               "program_code": body.program_code, "period": body.period,
               "region_code": body.region_code, "chunks_done": 1, "message": None}
        runs[run["run_id"]] = run
        return {k: run[k] for k in ("run_id", "status", "eligible", "issued", "skipped",
                                    "failed")}

    runs: dict[str, dict[str, Any]] = {}
    app.state.runs = runs

    @app.get("/v1/issuance-runs/{run_id}")
    async def get_run(run_id: str, p: Principal = require(Role.civil_affairs)) -> Any:
        run = runs.get(run_id)
        if run is None:
            raise NotFound(field="run_id")
        p.ensure_region(run["region_code"])
        return run

    return app


def provider_app(providers: dict[str, dict[str, Any]]) -> FastAPI:
    app = FastAPI()
    app.state.auth_public_key = get_common_settings().auth_public_key
    install_error_handlers(app)
    people = tuple(r for r in Role if r not in (Role.service, Role.terminal))

    @app.get("/v1/providers/{pid}")
    async def get_provider(pid: str, p: Principal = require(*people)) -> Any:
        if pid not in providers:
            raise NotFound(field="provider_id")
        return providers[pid]

    @app.get("/v1/providers")
    async def listing(request: Request, p: Principal = require(*people)) -> Any:
        rows = [v for v in providers.values()
                if p.role != Role.civil_affairs or p.covers_region(v["region_code"])]
        status = request.query_params.get("status")
        if status:
            rows = [v for v in rows if v["status"] == status]
        if "lat" in request.query_params:
            rows = [{**v, "distance_m": 300 + 100 * i} for i, v in enumerate(rows)
                    if v["status"] == "approved"]
        return {"items": rows}

    terminals: dict[str, list[dict[str, Any]]] = {}

    @app.get("/v1/providers/{pid}/terminals")
    async def list_terminals(pid: str, p: Principal = require(Role.provider_admin)) -> Any:
        p.ensure_provider(pid)
        return {"items": terminals.get(pid, [])}

    @app.post("/v1/providers/{pid}/terminals", status_code=201)
    async def new_terminal(pid: str, request: Request,
                           p: Principal = require(Role.provider_admin)) -> Any:
        p.ensure_provider(pid)
        name = (await request.json()).get("name", "")
        tid = str(uuid.uuid4())
        terminals.setdefault(pid, []).append({"id": tid, "name": name, "status": "active",
                                              "created_at": datetime.now(UTC).isoformat()})
        return {"terminal_id": tid, "name": name, "secret": f"yyt_{tid}.{uuid.uuid4().hex}"}

    async def _change(pid: str, body: Reason, p: Principal, to: str, allowed: set[str]) -> Any:
        provider = providers.get(pid)
        if provider is None:
            raise NotFound(field="provider_id")
        p.ensure_region(provider["region_code"])
        if provider["status"] not in allowed:
            raise Conflict(code="INVALID_TRANSITION", field="status")
        provider["status"] = to
        return {"id": pid, "status": to}

    @app.post("/v1/providers/{pid}/approve")
    async def approve(pid: str, body: Reason, p: Principal = require(Role.civil_affairs)) -> Any:
        return await _change(pid, body, p, "approved", {"applied", "suspended"})

    @app.post("/v1/providers/{pid}/suspend")
    async def suspend(pid: str, body: Reason, p: Principal = require(Role.civil_affairs)) -> Any:
        return await _change(pid, body, p, "suspended", {"approved"})

    return app


__all__ = ["Forbidden", "provider_app", "voucher_app"]
