"""Providers: the register, profiles, the change log and price lists."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import time
from typing import NotRequired, TypedDict

from sqlalchemy import Update, any_, delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import Provider, ProviderChange, ServiceItem
from services.provider.service.vocabulary import ProviderStatus


async def get_provider(
    session: AsyncSession, provider_id: uuid.UUID, *, lock: bool = False
) -> Provider | None:
    """The provider as it is now (FOR UPDATE with `lock`), or None."""
    stmt = (
        select(Provider)
        .where(col(Provider.id) == provider_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def provider_id_exists(session: AsyncSession, provider_id: uuid.UUID) -> bool:
    result = await session.execute(select(col(Provider.id)).where(col(Provider.id) == provider_id))
    return result.scalar_one_or_none() is not None


@dataclass(frozen=True, slots=True)
class NewProvider:
    """An application, the personal and settlement fields already encrypted and masked."""

    id: uuid.UUID
    name: str
    kind: str
    uscc: str
    region_code: str
    address: str
    lat: float
    lon: float
    contact_name: str
    contact_phone_enc: bytes
    contact_phone_masked: str
    bank_name: str
    bank_account_name: str
    bank_account_number_enc: bytes
    bank_account_number_masked: str
    version: int
    created_by: str


async def insert_provider(session: AsyncSession, new: NewProvider) -> bool:
    """Insert an `applied` provider; False (and nothing written) if its USCC or id is taken."""
    result = await session.execute(
        pg_insert(Provider)
        .values(**asdict(new), status=ProviderStatus.applied.value, price_list_version=new.version)
        .on_conflict_do_nothing()
        .returning(col(Provider.id))
    )
    return result.scalar_one_or_none() is not None


def _update_provider(provider_id: uuid.UUID) -> Update:
    return (
        update(Provider)
        .where(col(Provider.id) == provider_id)
        .execution_options(synchronize_session=False)
    )


async def set_status(
    session: AsyncSession, provider_id: uuid.UUID, status: str, version: int
) -> None:
    await session.execute(
        _update_provider(provider_id).values(status=status, version=version, updated_at=func.now())
    )


async def touch_provider(session: AsyncSession, provider_id: uuid.UUID, version: int) -> None:
    """Stamp the provider with a new directory version (its price list or account changed)."""
    await session.execute(
        _update_provider(provider_id).values(version=version, updated_at=func.now())
    )


async def stamp_price_list(session: AsyncSession, provider_id: uuid.UUID, version: int) -> None:
    """The price list changed at directory version `version` (the provider is published
    again with it)."""
    await session.execute(
        _update_provider(provider_id).values(
            version=version, price_list_version=version, updated_at=func.now()
        )
    )


async def add_credit_points(session: AsyncSession, provider_id: uuid.UUID, points: int) -> int:
    """Add to the provider's credit points; the new total."""
    result = await session.execute(
        _update_provider(provider_id)
        .values(credit_points=col(Provider.credit_points) + points, updated_at=func.now())
        .returning(col(Provider.credit_points))
    )
    return int(result.scalar_one())


class ProfileColumns(TypedDict, total=False):
    """The provider columns a profile change or an approved account change may set."""

    name: str
    address: str
    lat: float
    lon: float
    contact_name: str
    contact_phone_enc: bytes
    contact_phone_masked: str
    bank_name: str
    bank_account_name: str
    bank_account_number_enc: bytes
    bank_account_number_masked: str


async def update_profile(
    session: AsyncSession, provider_id: uuid.UUID, values: ProfileColumns, version: int
) -> None:
    await session.execute(
        _update_provider(provider_id).values(**values, version=version, updated_at=func.now())
    )


# --- the change log -----------------------------------------------------------------------


class PriceLine(TypedDict):
    """One line of a price list, as the API shows it and the change log keeps it."""

    code: str
    name: str
    category: str
    unit: str
    price_fen: int
    max_per_visit: int
    variable_price: bool
    max_price_fen: int | None
    home_visit: bool
    min_minutes: int | None
    serves_from: NotRequired[str | None]  # "HH:MM" (lists logged before they existed lack
    serves_until: NotRequired[str | None]  # them)


def _clock(value: str | None) -> time | None:
    return time.fromisoformat(value) if value else None


def _hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


class ChangeDetail(TypedDict, total=False):
    """`provider_change.detail`: a whole new price list, or the names of the profile fields
    changed (with the bank account change's decision, for the settlement account), or a
    price list change's request or decision (the codes it raises)."""

    services: list[PriceLine]
    fields: list[str]
    status: str
    bank_account_change_id: str
    price_list_change_id: str
    raises: list[str]


async def insert_change(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    kind: str,
    detail: ChangeDetail,
    actor: str,
    version: int,
) -> None:
    await session.execute(
        insert(ProviderChange).values(
            provider_id=provider_id, kind=kind, detail=detail, actor=actor, version=version
        )
    )


async def changes_of(session: AsyncSession, provider_id: uuid.UUID) -> list[ProviderChange]:
    """The provider's change log, oldest first."""
    result = await session.execute(
        select(ProviderChange)
        .where(col(ProviderChange.provider_id) == provider_id)
        .order_by(col(ProviderChange.id))
    )
    return list(result.scalars())


# --- price lists --------------------------------------------------------------------------


async def replace_services(
    session: AsyncSession, provider_id: uuid.UUID, items: Sequence[PriceLine]
) -> None:
    """The provider's whole price list becomes `items`, in this order."""
    await session.execute(
        delete(ServiceItem)
        .where(col(ServiceItem.provider_id) == provider_id)
        .execution_options(synchronize_session=False)
    )
    if items:
        await session.execute(
            insert(ServiceItem),
            [
                {
                    **item,
                    "serves_from": _clock(item.get("serves_from")),
                    "serves_until": _clock(item.get("serves_until")),
                    "provider_id": provider_id,
                    "position": i,
                }
                for i, item in enumerate(items)
            ],
        )


async def services_of(
    session: AsyncSession, provider_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PriceLine]]:
    """Price lists of several providers (one array parameter, however many), in list order."""
    if not provider_ids:
        return {}
    result = await session.execute(
        select(
            col(ServiceItem.provider_id),
            col(ServiceItem.code),
            col(ServiceItem.name),
            col(ServiceItem.category),
            col(ServiceItem.unit),
            col(ServiceItem.price_fen),
            col(ServiceItem.max_per_visit),
            col(ServiceItem.variable_price),
            col(ServiceItem.max_price_fen),
            col(ServiceItem.home_visit),
            col(ServiceItem.min_minutes),
            col(ServiceItem.serves_from),
            col(ServiceItem.serves_until),
        )
        .where(
            col(ServiceItem.provider_id)
            == any_(literal(list(provider_ids), ARRAY(UUID(as_uuid=True))))
        )
        .order_by(col(ServiceItem.provider_id), col(ServiceItem.position))
    )
    out: dict[uuid.UUID, list[PriceLine]] = defaultdict(list)
    for row in result:
        out[row[0]].append(
            PriceLine(
                code=row[1],
                name=row[2],
                category=row[3],
                unit=row[4],
                price_fen=row[5],
                max_per_visit=row[6],
                variable_price=row[7],
                max_price_fen=row[8],
                home_visit=row[9],
                min_minutes=row[10],
                serves_from=_hhmm(row[11]),
                serves_until=_hhmm(row[12]),
            )
        )
    return out


# --- the register -------------------------------------------------------------------------


async def registry_page(
    session: AsyncSession,
    *,
    region_prefix: str | None,
    provider_id: uuid.UUID | None,
    status: str | None,
    kind: str | None,
    after: uuid.UUID | None,
    limit: int,
    ids: list[uuid.UUID] | None = None,
) -> list[Provider]:
    """Providers in id order (ids are time-ordered), filtered, from after `after`."""
    stmt = select(Provider).order_by(col(Provider.id)).limit(limit)
    if ids is not None:
        stmt = stmt.where(col(Provider.id).in_(ids))
    if region_prefix:
        stmt = stmt.where(col(Provider.region_code).startswith(region_prefix, autoescape=True))
    if provider_id is not None:
        stmt = stmt.where(col(Provider.id) == provider_id)
    if status is not None:
        stmt = stmt.where(col(Provider.status) == status)
    if kind is not None:
        stmt = stmt.where(col(Provider.kind) == kind)
    if after is not None:
        stmt = stmt.where(col(Provider.id) > after)
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return list(result.scalars())
