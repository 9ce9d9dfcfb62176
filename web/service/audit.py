"""The audit log: every sign-in, failure, lock, sign-out, password and two-factor change and
administrator action, read by auditors (newest first) and exported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from web.models import AuditEvent
from web.repository import audit as repo
from web.repository.audit import AuditFilter
from web.roles import ROLE_NAMES
from web.service.context import Identity

ACTION_NAMES = {
    "sign_in": "登录成功",
    "sign_in_failed": "登录失败（密码不对）",
    "sign_in_throttled": "登录被暂停（错误太多）",
    "totp_failed": "动态验证码不对",
    "recovery_code_used": "用了一个备用码",
    "sign_out": "退出登录",
    "sign_out_everywhere": "退出所有设备",
    "password_changed": "修改了密码",
    "totp_enrolled": "开通了两步验证",
    "user_created": "新建账号",
    "user_disabled": "停用账号",
    "user_enabled": "恢复账号",
    "user_rescoped": "修改账号范围",
    "password_reset": "重置密码",
    "totp_reset": "重置两步验证",
    "audit_exported": "导出账号日志",
}
PAGE_SIZE = 100
EXPORT_LIMIT = 50_000


async def record(
    db: AsyncSession,
    ident: Identity,
    action: str,
    *,
    actor: str | None = None,
    subject: str | None = None,
    region: str | None = None,
    address: str | None = None,
    **detail: Any,
) -> None:
    """Add one event (never a secret in `detail`: no password, code or token)."""
    await repo.add(
        db,
        AuditEvent(
            at=ident.now(),
            action=action,
            actor=actor,
            subject=subject,
            region=region,
            address=address,
            detail=detail,
        ),
    )


async def newest_first(
    db: AsyncSession, f: AuditFilter, limit: int = PAGE_SIZE
) -> list[AuditEvent]:
    return await repo.newest_first(db, f, limit)


def describe(event: AuditEvent) -> str:
    """The event's details in plain words (what changed, never a secret)."""
    d = event.detail or {}
    parts = []
    if d.get("role"):
        parts.append(f"角色：{ROLE_NAMES.get(d['role'], d['role'])}")
    if d.get("wait_s"):
        parts.append(f"需等待 {d['wait_s']} 秒")
    if d.get("sessions_ended") is not None:
        parts.append(f"结束了 {d['sessions_ended']} 个登录")
    if d.get("reason") == "disabled":
        parts.append("账号已停用")
    if d.get("second_factor"):
        parts.append("用备用码" if d["second_factor"] == "recovery" else "用动态验证码")
    if d.get("remaining") is not None:
        parts.append(f"还剩 {d['remaining']} 个备用码")
    if d.get("changed"):
        parts.append("改了：" + "、".join(d["changed"]))
    if d.get("rows") is not None:
        parts.append(f"{d['rows']} 条")
    return "；".join(p for p in parts if p)


def table(events: Sequence[AuditEvent], local_time: Any) -> tuple[list[str], list[list[Any]]]:
    """The events as a spreadsheet's columns and rows (Beijing time, plain words)."""
    columns = ["时间", "事件", "操作人", "涉及账号", "地区代码", "来源地址", "说明"]
    rows = [
        [
            local_time(e.at),
            ACTION_NAMES.get(e.action, e.action),
            e.actor or "",
            e.subject or "",
            e.region or "",
            e.address or "",
            describe(e),
        ]
        for e in events
    ]
    return columns, rows
