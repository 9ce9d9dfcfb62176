"""A person's own account: change the password (required after an administrator reset it),
enrol in two-factor sign-in (required for officers, finance, auditors and administrators
before anything else), sign out everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from web.deps import CsrfSignedIn, DbSession, SignedIn, StateDep, WebState, client_address
from web.models import WebUser
from web.render import home_of, page
from web.repository import users as users_repo
from web.roles import TOTP_ROLES
from web.service import accounts, totp, two_factor
from web.service.accounts import AccountError
from web.sessions import Session

router = APIRouter(prefix="/account")


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, web: StateDep, db: DbSession, session: SignedIn) -> Response:
    """The account page: password, two-factor sign-in, sign out everywhere."""
    user = await users_repo.by_id(db, session.user_id)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return page(
        request,
        "account.html",
        session,
        user=user,
        totp_possible=user.role in TOTP_ROLES,
        recovery_left=await users_repo.unused_recovery_codes(db, user.id)
        if user.totp_secret
        else 0,
    )


@router.get("/password", response_class=HTMLResponse)
async def password_form(request: Request, session: SignedIn) -> HTMLResponse:
    """Change one's own password (the only page open while a new one is owed)."""
    return page(request, "account_password.html", session, forced=session.must_change_password)


@router.post("/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSignedIn,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
) -> Response:
    """Check the current password and the new one; every other session of the person ends."""
    forced = session.must_change_password
    try:
        if new != again:
            raise AccountError("两次输入的新密码不一样。", "again")
        await accounts.change_own_password(
            db,
            web.identity,
            session.user_id,
            current[:256],
            new[:256],
            keep_session=session.id,
            address=client_address(request),
        )
    except AccountError as exc:
        return page(
            request,
            "account_password.html",
            session,
            status_code=422,
            forced=forced,
            error=exc.message,
            problem_field=exc.field,
        )
    session.flash.append(("ok", "密码已修改。其他手机和电脑上的登录已经退出。"))
    session.must_change_password = False
    if session.needs_totp_enrolment:
        return RedirectResponse("/account/totp", status_code=303)
    return RedirectResponse(home_of(session.role, session.region) if forced else "/account", 303)


@router.get("/totp", response_class=HTMLResponse)
async def totp_form(request: Request, web: StateDep, db: DbSession, session: SignedIn) -> Response:
    """Enrolment: a QR code for the authenticator app, the key as text, a field for the
    first code."""
    if session.must_change_password:
        return RedirectResponse("/account/password", status_code=303)
    user = await users_repo.by_id(db, session.user_id)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.totp_secret is not None or user.role not in TOTP_ROLES:
        return RedirectResponse("/account", status_code=303)
    return await _enrol_page(request, web, db, session, user)


async def _enrol_page(
    request: Request,
    web: WebState,
    db: AsyncSession,
    session: Session,
    user: WebUser,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    secret = await two_factor.pending_secret(db, web.identity, user)
    uri = totp.otpauth_uri(secret, user.username, two_factor.ISSUER)
    return page(
        request,
        "account_totp.html",
        session,
        status_code=status_code,
        qr=two_factor.qr_data_uri(uri),
        secret_groups=[secret[i : i + 4] for i in range(0, len(secret), 4)],
        forced=session.needs_totp_enrolment,
        error=error,
    )


@router.post("/totp", response_class=HTMLResponse)
async def totp_confirm(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSignedIn,
    code: Annotated[str, Form()] = "",
) -> Response:
    """The first code confirms the enrolment; the recovery codes are shown this once."""
    user = await users_repo.by_id(db, session.user_id)
    if user is None or session.must_change_password:
        return RedirectResponse("/login", status_code=303)
    if user.totp_secret is not None or user.role not in TOTP_ROLES:
        return RedirectResponse("/account", status_code=303)
    secret = await two_factor.pending_secret(db, web.identity, user)
    codes = await two_factor.enrol(
        db, web.identity, user, secret, code[:16], client_address(request)
    )
    if codes is None:
        return await _enrol_page(
            request,
            web,
            db,
            session,
            user,
            status_code=422,
            error="验证码不对。请看手机应用里“颐养”这一项现在显示的 6 位数字。",
        )
    session.needs_totp_enrolment = False
    return page(
        request, "account_recovery.html", session, codes=codes, home=home_of(user.role, user.region)
    )
