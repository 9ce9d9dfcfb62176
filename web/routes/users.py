"""Account administration (`admin`, the web's own role), for the accounts of the admin's
region: the list, a new account (a temporary password, shown once, to be changed at the
first sign-in), and for each account: disable or enable (disabling ends its sessions at
once), its name and scope, a new temporary password, a new two-factor enrolment.

A provider account is tied to a provider chosen from the admin's region's register; a
beneficiary or proxy account to people found by their national ID. Those look-ups go to the
provider and voucher services as an officer of the admin's region would (a token minted for
that one call): the services then refuse, as for any officer, what lies outside the region.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role, issue_token
from services.common.crypto import mask_national_id
from services.common.regions import (
    ancestors,
    region_covers,
    region_name,
    regions,
    significant_prefix,
)
from web.clients import ApiError, ProviderClient, VoucherClient
from web.deps import (
    CsrfSession,
    DbSession,
    PageForbidden,
    StateDep,
    WebState,
    client_address,
    require_role,
)
from web.models import WebUser
from web.render import page
from web.repository import users as users_repo
from web.roles import ADMIN, PERSON_ROLES, PROVIDER_ROLES, ROLE_NAMES, TOTP_ROLES
from web.service import accounts, two_factor
from web.service.accounts import AccountError, Scope
from web.sessions import Session

router = APIRouter(prefix="/admin/users")
ADMINS = require_role(ADMIN)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_TEMP_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_PEOPLE = 5


def temporary_password() -> str:
    """12 letters and digits (71 bits), shown once to the administrator."""
    return "".join(secrets.choice(_TEMP_ALPHABET) for _ in range(12))


def region_label(code: str) -> str:
    """`南宁市 青秀区` (the city before the district; the province left out)."""
    names = [region_name(c) for c in reversed(ancestors(code)) if not c.endswith("0000")]
    return " ".join(names) or region_name(code)


def region_choices(scope: str) -> list[tuple[str, str]]:
    return [(code, region_label(code)) for code in sorted(regions()) if region_covers(scope, code)]


def _lookup_token(web: WebState, session: Session) -> str:
    """An officer's token of the admin's region, for the look-ups of this request only."""
    return issue_token(
        web.common.auth_private_key,
        role=Role.civil_affairs,
        sub=f"web:{session.username}",
        region=session.region,
        name=session.display_name,
        ttl_s=120,
    )


async def _providers(web: WebState, session: Session) -> tuple[list[dict[str, Any]], str | None]:
    client = ProviderClient(
        web.common.provider_url, _lookup_token(web, session), http=web.http["provider"]
    )
    try:
        rows = await client.listing(region_code=session.region)
    except ApiError as exc:
        return [], exc.friendly
    finally:
        await client.aclose()
    return [
        p
        for p in rows
        if region_covers(session.region or "", p.get("region_code") or "")
        and p.get("status") in ("approved", "applied", "changes_requested", "suspended")
    ], None


async def _people(
    web: WebState, session: Session, national_ids: list[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """The people of these national IDs, if each is in the admin's region."""
    client = VoucherClient(
        web.common.voucher_url, _lookup_token(web, session), http=web.http["voucher"]
    )
    found = []
    try:
        for nid in national_ids:
            try:
                found.append(await client.lookup(nid))
            except ApiError as exc:
                if exc.status in (403, 404, 422):
                    return [], f"找不到身份证号为 {mask_national_id(nid)} 的本地区服务对象。"
                return [], exc.friendly
    finally:
        await client.aclose()
    return found, None


def _manageable(session: Session, user: WebUser | None) -> WebUser:
    if user is None or not accounts.may_manage(
        session.role, session.region, session.username, user
    ):
        raise PageForbidden("没有这个账号，或它不归您管理。")
    return user


def _view(user: WebUser) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "role_name": ROLE_NAMES.get(user.role, user.role),
        "region": user.region,
        "region_name": region_label(user.region),
        "active": user.status == "active",
        "totp": user.totp_secret is not None,
        "totp_needed": user.role in TOTP_ROLES,
        "must_change": user.must_change_password,
        "people": len(user.beneficiary_ids),
        "has_terminal": user.terminal_secret is not None,
    }


@router.get("", response_class=HTMLResponse)
async def listing(
    request: Request, db: DbSession, q: str = "", session: Session = ADMINS
) -> HTMLResponse:
    """The accounts of the admin's region (up to 500, by username; search by name)."""
    users = await users_repo.in_region(db, _prefix(session), query=q.strip()[:40])
    return page(
        request, "admin_users.html", session, users=[_view(u) for u in users], q=q.strip()[:40]
    )


def _prefix(session: Session) -> str:
    return significant_prefix(session.region or "")


@router.get("/new", response_class=HTMLResponse)
async def new_form(
    request: Request, web: StateDep, role: str = "", session: Session = ADMINS
) -> HTMLResponse:
    """The form for a new account."""
    return await _new_page(request, web, session, form={"role": role, "region": session.region})


async def _new_page(
    request: Request,
    web: WebState,
    session: Session,
    *,
    form: dict[str, Any],
    status_code: int = 200,
    error: str | None = None,
    problem_field: str | None = None,
) -> HTMLResponse:
    providers, provider_error = await _providers(web, session)
    return page(
        request,
        "admin_user_new.html",
        session,
        status_code=status_code,
        form=form,
        roles=list(ROLE_NAMES.items()),
        regions=region_choices(session.region or ""),
        providers=providers,
        provider_error=provider_error,
        error=error,
        problem_field=problem_field,
    )


def _national_ids(text: str) -> list[str]:
    return [line.strip().upper() for line in re.split(r"[\s,，、]+", text) if line.strip()]


async def _scope_from_form(
    web: WebState,
    session: Session,
    role: str,
    region: str,
    provider_id: str,
    national_ids: str,
    keep: tuple[str, ...] = (),
) -> Scope:
    """What the form says the account covers, checked against the admin's region."""
    if role in PROVIDER_ROLES:
        providers, problem = await _providers(web, session)
        chosen = next((p for p in providers if p.get("id") == provider_id), None)
        if chosen is None:
            raise AccountError(problem or "请从列表中选择本地区的服务机构。", "provider_id")
        return Scope(region=chosen["region_code"], provider_id=chosen["id"])
    if role in PERSON_ROLES:
        ids = _national_ids(national_ids)
        if not ids and keep:
            return Scope(region=region, beneficiary_ids=keep)
        if not ids or len(ids) > MAX_PEOPLE:
            raise AccountError(
                f"请填写服务对象的身份证号（1 到 {MAX_PEOPLE} 个，每行一个）。", "national_ids"
            )
        people, problem = await _people(web, session, ids)
        if problem:
            raise AccountError(problem, "national_ids")
        return Scope(
            region=people[0]["region_code"], beneficiary_ids=tuple(p["id"] for p in people)
        )
    if not region_covers(session.region or "", region):
        raise AccountError("只能选择您管理的地区。", "region")
    return Scope(region=region)


@router.post("/new", response_class=HTMLResponse)
async def create(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    region: Annotated[str, Form()] = "",
    provider_id: Annotated[str, Form()] = "",
    national_ids: Annotated[str, Form()] = "",
    terminal_secret: Annotated[str, Form()] = "",
) -> Response:
    """Create the account with a temporary password (shown once)."""
    if session.role != ADMIN:
        raise PageForbidden()
    form = {
        "username": username.strip()[:64],
        "display_name": display_name.strip()[:100],
        "role": role,
        "region": region,
        "provider_id": provider_id,
        "national_ids": national_ids[:400],
    }
    temporary = temporary_password()
    try:
        if role not in ROLE_NAMES:
            raise AccountError("请选择账号的角色。", "role")
        scope = await _scope_from_form(web, session, role, region, provider_id, national_ids)
        if not region_covers(session.region or "", scope.region):
            raise AccountError("只能为您管理的地区建账号。", "region")
        user = await accounts.create(
            db,
            web.identity,
            username=username,
            password=temporary,
            role=role,
            display_name=display_name,
            scope=scope,
            terminal_secret=terminal_secret.strip()[:200] or None,
            must_change_password=True,
            created_by=session.username,
            address=client_address(request),
        )
    except AccountError as exc:
        return await _new_page(
            request,
            web,
            session,
            form=form,
            status_code=422,
            error=exc.message,
            problem_field=exc.field,
        )
    return page(
        request,
        "admin_user_password.html",
        session,
        user=_view(user),
        temporary=temporary,
        created=True,
    )


@router.get("/{username}", response_class=HTMLResponse)
async def detail(
    request: Request, web: StateDep, db: DbSession, username: str, session: Session = ADMINS
) -> HTMLResponse:
    """One account: its state and the forms to change it."""
    user = _manageable(session, await users_repo.by_username(db, username.lower()[:64]))
    return await _detail_page(request, web, session, user)


async def _detail_page(
    request: Request,
    web: WebState,
    session: Session,
    user: WebUser,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    providers: list[dict[str, Any]] = []
    provider_error = None
    if user.role in PROVIDER_ROLES:
        providers, provider_error = await _providers(web, session)
    return page(
        request,
        "admin_user.html",
        session,
        status_code=status_code,
        user=_view(user),
        provider_id=user.provider_id,
        regions=region_choices(session.region or ""),
        providers=providers,
        provider_error=provider_error,
        error=error,
    )


@router.post("/{username}/status")
async def set_status(
    request: Request,
    web: StateDep,
    db: DbSession,
    username: str,
    session: CsrfSession,
    status: Annotated[str, Form()] = "",
) -> Response:
    """Disable (every session of the account ends now) or enable the account."""
    user = _manageable(session, await users_repo.by_username(db, username.lower()[:64]))
    if status not in ("active", "disabled"):
        return await _detail_page(request, web, session, user, status_code=422, error="请选择。")
    await accounts.set_status(
        db, web.identity, session.username, user, status, client_address(request)
    )
    session.flash.append(
        (
            "ok",
            "账号已停用，它在所有设备上的登录都已结束。"
            if status == "disabled"
            else "账号已恢复使用。",
        )
    )
    return RedirectResponse(f"/admin/users/{user.username}", status_code=303)


@router.post("/{username}/scope", response_class=HTMLResponse)
async def set_scope(
    request: Request,
    web: StateDep,
    db: DbSession,
    username: str,
    session: CsrfSession,
    display_name: Annotated[str, Form()] = "",
    region: Annotated[str, Form()] = "",
    provider_id: Annotated[str, Form()] = "",
    national_ids: Annotated[str, Form()] = "",
    terminal_secret: Annotated[str, Form()] = "",
) -> Response:
    """Change the name and scope (the account's sessions end, so the next sign-in carries
    the new scope)."""
    user = _manageable(session, await users_repo.by_username(db, username.lower()[:64]))
    try:
        scope = await _scope_from_form(
            web,
            session,
            user.role,
            region,
            provider_id,
            national_ids,
            keep=tuple(user.beneficiary_ids),
        )
        if not region_covers(session.region or "", scope.region):
            raise AccountError("只能选择您管理的地区。", "region")
        await accounts.rescope(
            db,
            web.identity,
            session.username,
            user,
            display_name=display_name,
            scope=scope,
            terminal_secret=terminal_secret.strip()[:200] or None,
            address=client_address(request),
        )
    except AccountError as exc:
        return await _detail_page(request, web, session, user, status_code=422, error=exc.message)
    session.flash.append(("ok", "已保存。"))
    return RedirectResponse(f"/admin/users/{user.username}", status_code=303)


@router.post("/{username}/password", response_class=HTMLResponse)
async def reset_password(
    request: Request, web: StateDep, db: DbSession, username: str, session: CsrfSession
) -> Response:
    """A new temporary password (shown once); the person must change it at sign-in."""
    user = _manageable(session, await users_repo.by_username(db, username.lower()[:64]))
    temporary = temporary_password()
    await accounts.reset_password(
        db, web.identity, session.username, user, temporary, client_address(request)
    )
    return page(
        request,
        "admin_user_password.html",
        session,
        user=_view(user),
        temporary=temporary,
        created=False,
    )


@router.post("/{username}/totp")
async def reset_totp(
    request: Request, web: StateDep, db: DbSession, username: str, session: CsrfSession
) -> Response:
    """Forget the account's authenticator (a lost phone): it enrols again at sign-in."""
    user = _manageable(session, await users_repo.by_username(db, username.lower()[:64]))
    await two_factor.reset(db, web.identity, session.username, user, client_address(request))
    session.flash.append(("ok", "已重置两步验证，该账号下次登录时需要重新绑定手机应用。"))
    return RedirectResponse(f"/admin/users/{user.username}", status_code=303)
