"""Who may sign in to the web, and what each kind of account needs.

The people roles of the services (`services.common.auth.Role`) plus `admin`, the web's own
role for looking after accounts: an administrator manages the accounts of a region and never
calls the services as such, so no service ever sees the role.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.common.auth import PEOPLE_ROLES, Role

ADMIN = "admin"
ROLES: tuple[str, ...] = (*(r.value for r in PEOPLE_ROLES), ADMIN)

# Their `region` is an authority (officers, finance, auditors go with it into the token).
REGION_ROLES = (Role.civil_affairs.value, Role.finance.value, Role.auditor.value, ADMIN)
PROVIDER_ROLES = (Role.provider_staff.value, Role.provider_admin.value)
PERSON_ROLES = (Role.beneficiary.value, Role.proxy.value)
# These sign in with a second factor (TOTP): they move money, enrol people, read everything.
TOTP_ROLES = (Role.civil_affairs.value, Role.finance.value, Role.auditor.value, ADMIN)

# A national account: an officer, finance officer or auditor whose region is the country.
# The services know it so (their national dashboard, docs/shards.md); in a sharded
# deployment such a token names no province, so its one page is the national dashboard.
NATIONAL_REGION = "000000"
NATIONAL_ROLES = (Role.civil_affairs.value, Role.finance.value, Role.auditor.value)


def is_national(role: str, region: str | None) -> bool:
    return role in NATIONAL_ROLES and region == NATIONAL_REGION


ROLE_NAMES = {
    "beneficiary": "老年人",
    "proxy": "家属/代办人",
    "provider_staff": "服务机构操作员",
    "provider_admin": "服务机构管理员",
    "civil_affairs": "民政经办人",
    "finance": "财务人员",
    "auditor": "审计人员",
    ADMIN: "账号管理员",
}


def sql_in(values: Iterable[str]) -> str:
    """`('a', 'b')` for a CHECK constraint (the values are this module's constants)."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
