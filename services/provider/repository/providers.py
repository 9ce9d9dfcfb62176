"""All SQL of the provider service.

Lock order in every change transaction: the provider row (FOR UPDATE) first, then the
directory counter (`next_version`), so writers never wait on each other in a cycle. The
counter is taken last and held to COMMIT: versions are therefore committed in order.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Row = dict[str, Any]

# Mean Earth radius (IUGG), metres; the haversine in SQL and the bounding box agree on it.
EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180


async def next_version(session: AsyncSession) -> int:
    """Increment the one counter row and return the new directory version."""
    result = await session.execute(
        text(
            "UPDATE directory_counter SET version = version + 1, changed_at = now() "
            "WHERE id = 1 RETURNING version"
        )
    )
    return int(result.scalar_one())


# --- providers ----------------------------------------------------------------------------


async def insert_provider(session: AsyncSession, row: Row) -> bool:
    """Insert a provider; False (and nothing written) if its USCC or id is already taken."""
    result = await session.execute(
        text("""
        INSERT INTO provider (id, name, kind, uscc, region_code, address, lat, lon,
                              contact_name, contact_phone_enc, contact_phone_masked,
                              bank_name, bank_account_name, bank_account_number_enc,
                              bank_account_number_masked, status, version, created_by)
        VALUES (:id, :name, :kind, :uscc, :region_code, :address, :lat, :lon,
                :contact_name, :contact_phone_enc, :contact_phone_masked,
                :bank_name, :bank_account_name, :bank_account_number_enc,
                :bank_account_number_masked, 'applied', :version, :created_by)
        ON CONFLICT DO NOTHING
        RETURNING id"""),
        row,
    )
    return result.scalar_one_or_none() is not None


async def provider_id_exists(session: AsyncSession, provider_id: uuid.UUID) -> bool:
    result = await session.execute(
        text("SELECT 1 FROM provider WHERE id = :id"), {"id": provider_id}
    )
    return result.scalar_one_or_none() is not None


_PROVIDER_COLUMNS = """id, name, kind, uscc, region_code, address, lat, lon, contact_name,
    contact_phone_masked, bank_name, bank_account_name, bank_account_number_masked, status,
    credit_points, version, created_at, updated_at"""


async def get_provider(
    session: AsyncSession, provider_id: uuid.UUID, *, lock: bool = False
) -> Row | None:
    sql = f"SELECT {_PROVIDER_COLUMNS} FROM provider WHERE id = :id"
    if lock:
        sql += " FOR UPDATE"
    result = await session.execute(text(sql), {"id": provider_id})
    row = result.mappings().one_or_none()
    return dict(row) if row else None


async def bank_account_number_enc(session: AsyncSession, provider_id: uuid.UUID) -> bytes | None:
    result = await session.execute(
        text("SELECT bank_account_number_enc FROM provider WHERE id = :id"), {"id": provider_id}
    )
    return result.scalar_one_or_none()


async def set_status(
    session: AsyncSession, provider_id: uuid.UUID, status: str, version: int
) -> None:
    await session.execute(
        text(
            "UPDATE provider SET status = :status, version = :version, updated_at = now() "
            "WHERE id = :id"
        ),
        {"id": provider_id, "status": status, "version": version},
    )


async def touch_provider(session: AsyncSession, provider_id: uuid.UUID, version: int) -> None:
    await session.execute(
        text("UPDATE provider SET version = :version, updated_at = now() WHERE id = :id"),
        {"id": provider_id, "version": version},
    )


async def add_credit_points(session: AsyncSession, provider_id: uuid.UUID, points: int) -> int:
    result = await session.execute(
        text(
            "UPDATE provider SET credit_points = credit_points + :points, updated_at = now() "
            "WHERE id = :id RETURNING credit_points"
        ),
        {"id": provider_id, "points": points},
    )
    return int(result.scalar_one())


async def update_profile(
    session: AsyncSession, provider_id: uuid.UUID, values: Row, version: int
) -> None:
    """Set the given columns (names come from the service, never from the request)."""
    allowed = {
        "name",
        "address",
        "lat",
        "lon",
        "contact_name",
        "contact_phone_enc",
        "contact_phone_masked",
        "bank_name",
        "bank_account_name",
        "bank_account_number_enc",
        "bank_account_number_masked",
    }
    assert set(values) <= allowed
    sets = ", ".join(f"{k} = :{k}" for k in values)
    await session.execute(
        text(f"UPDATE provider SET {sets}, version = :version, updated_at = now() WHERE id = :id"),
        {**values, "id": provider_id, "version": version},
    )


async def insert_change(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    kind: str,
    detail: Row,
    actor: str,
    version: int,
) -> None:
    await session.execute(
        text("""
        INSERT INTO provider_change (provider_id, kind, detail, actor, version)
        VALUES (:provider_id, :kind, CAST(:detail AS jsonb), :actor, :version)"""),
        {
            "provider_id": provider_id,
            "kind": kind,
            "detail": json.dumps(detail, ensure_ascii=False),
            "actor": actor,
            "version": version,
        },
    )


async def changes_of(session: AsyncSession, provider_id: uuid.UUID) -> list[Row]:
    result = await session.execute(
        text("""
        SELECT kind, detail, actor, changed_at FROM provider_change
        WHERE provider_id = :id ORDER BY id"""),
        {"id": provider_id},
    )
    return [dict(r) for r in result.mappings()]


# --- price list ---------------------------------------------------------------------------


async def replace_services(session: AsyncSession, provider_id: uuid.UUID, items: list[Row]) -> None:
    await session.execute(
        text("DELETE FROM service_item WHERE provider_id = :id"), {"id": provider_id}
    )
    if items:
        await session.execute(
            text("""
            INSERT INTO service_item (provider_id, code, name, category, unit, price_fen,
                                      position)
            VALUES (:provider_id, :code, :name, :category, :unit, :price_fen, :position)"""),
            [{**item, "provider_id": provider_id, "position": i} for i, item in enumerate(items)],
        )


async def services_of(session: AsyncSession, provider_ids: list[Any]) -> dict[str, list[Row]]:
    """Price lists of several providers, keyed by provider id (as a string)."""
    if not provider_ids:
        return {}
    result = await session.execute(
        text("""
        SELECT provider_id, code, name, category, unit, price_fen FROM service_item
        WHERE provider_id = ANY(CAST(:ids AS uuid[])) ORDER BY provider_id, position"""),
        {"ids": [str(p) for p in provider_ids]},
    )
    out: dict[str, list[Row]] = defaultdict(list)
    for row in result.mappings():
        item = dict(row)
        out[str(item.pop("provider_id"))].append(item)
    return out


# --- history and credit -------------------------------------------------------------------


async def insert_status_change(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    from_status: str | None,
    to_status: str,
    reason: str,
    actor: str,
    automatic: bool = False,
) -> None:
    await session.execute(
        text("""
        INSERT INTO provider_status_change (provider_id, from_status, to_status, reason,
                                            actor, automatic)
        VALUES (:provider_id, :from_status, :to_status, :reason, :actor, :automatic)"""),
        {
            "provider_id": provider_id,
            "from_status": from_status,
            "to_status": to_status,
            "reason": reason,
            "actor": actor,
            "automatic": automatic,
        },
    )


async def status_history(session: AsyncSession, provider_id: uuid.UUID) -> list[Row]:
    result = await session.execute(
        text("""
        SELECT from_status, to_status, reason, actor, automatic, changed_at
        FROM provider_status_change WHERE provider_id = :id ORDER BY id"""),
        {"id": provider_id},
    )
    return [dict(r) for r in result.mappings()]


async def insert_credit_event(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    kind: str,
    points: int,
    reason: str,
    actor: str,
) -> None:
    await session.execute(
        text("""
        INSERT INTO credit_event (provider_id, kind, points, reason, actor)
        VALUES (:provider_id, :kind, :points, :reason, :actor)"""),
        {
            "provider_id": provider_id,
            "kind": kind,
            "points": points,
            "reason": reason,
            "actor": actor,
        },
    )


async def credit_events(session: AsyncSession, provider_id: uuid.UUID) -> list[Row]:
    result = await session.execute(
        text("""
        SELECT kind, points, reason, actor, recorded_at FROM credit_event
        WHERE provider_id = :id ORDER BY id"""),
        {"id": provider_id},
    )
    return [dict(r) for r in result.mappings()]


# --- terminals ----------------------------------------------------------------------------


async def insert_terminal(session: AsyncSession, row: Row) -> None:
    await session.execute(
        text("""
        INSERT INTO terminal (id, provider_id, name, secret_sha256, status, version, created_by)
        VALUES (:id, :provider_id, :name, :secret_sha256, 'active', :version, :created_by)"""),
        row,
    )


async def terminals_of(session: AsyncSession, provider_id: uuid.UUID) -> list[Row]:
    result = await session.execute(
        text("""
        SELECT id, name, status, created_at, revoked_at FROM terminal
        WHERE provider_id = :id ORDER BY created_at, id"""),
        {"id": provider_id},
    )
    return [dict(r) for r in result.mappings()]


async def get_terminal(
    session: AsyncSession, provider_id: uuid.UUID, terminal_id: uuid.UUID
) -> Row | None:
    result = await session.execute(
        text("""
        SELECT id, provider_id, name, status, created_at, revoked_at FROM terminal
        WHERE id = :tid AND provider_id = :pid FOR UPDATE"""),
        {"tid": terminal_id, "pid": provider_id},
    )
    row = result.mappings().one_or_none()
    return dict(row) if row else None


async def rename_terminal(
    session: AsyncSession, terminal_id: uuid.UUID, *, name: str, version: int
) -> None:
    await session.execute(
        text("UPDATE terminal SET name = :name, version = :version WHERE id = :id"),
        {"id": terminal_id, "name": name, "version": version},
    )


async def revoke_terminal(
    session: AsyncSession, terminal_id: uuid.UUID, *, version: int, actor: str
) -> None:
    await session.execute(
        text("""
        UPDATE terminal SET status = 'revoked', revoked_at = now(), revoked_by = :actor,
                            version = :version
        WHERE id = :id"""),
        {"id": terminal_id, "version": version, "actor": actor},
    )


# --- nearby search ------------------------------------------------------------------------


def bounding_box(lat: float, lon: float, radius_m: int) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) that holds every point within `radius_m`.

    A degree of latitude is the same length everywhere; a degree of longitude shrinks with
    cos(latitude), taken at the edge nearer the pole so the box is never too small.
    """
    dlat = radius_m / _M_PER_DEGREE * 1.001 + 1e-6
    edge = min(89.9, abs(lat) + dlat)
    dlon = min(180.0, dlat / max(math.cos(math.radians(edge)), 1e-3))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


async def nearby(
    session: AsyncSession,
    *,
    lat: float,
    lon: float,
    radius_m: int,
    kind: str | None,
    category: str | None,
    limit: int,
) -> list[Row]:
    """Approved providers within `radius_m` of (lat, lon), nearest first.

    The GiST index on `location` (approved rows only) answers the bounding box; the exact
    haversine distance is then computed for the few rows inside it.
    """
    min_lon, min_lat, max_lon, max_lat = bounding_box(lat, lon, radius_m)
    filters = ""
    params: Row = {
        "lat": lat,
        "lon": lon,
        "radius": radius_m,
        "limit": limit,
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
        "r": EARTH_RADIUS_M,
    }
    if kind:
        filters += " AND p.kind = :kind"
        params["kind"] = kind
    if category:
        filters += (
            " AND EXISTS (SELECT 1 FROM service_item s WHERE s.provider_id = p.id"
            " AND s.category = :category)"
        )
        params["category"] = category
    result = await session.execute(text(nearby_sql(filters)), params)
    return [dict(r) for r in result.mappings()]


def nearby_sql(filters: str = "") -> str:
    return f"""
        SELECT p.id, p.name, p.kind, p.region_code, p.address, p.lat, p.lon, d.distance_m
        FROM provider p
        CROSS JOIN LATERAL (
            SELECT CAST(:r AS double precision) * 2 * asin(least(1.0, sqrt(
                power(sin(radians(p.lat - CAST(:lat AS double precision)) / 2), 2)
                + cos(radians(CAST(:lat AS double precision))) * cos(radians(p.lat))
                  * power(sin(radians(p.lon - CAST(:lon AS double precision)) / 2), 2)
            ))) AS distance_m
        ) d
        WHERE p.status = 'approved'
          AND p.location <@ box(point(:min_lon, :min_lat), point(:max_lon, :max_lat))
          AND d.distance_m <= :radius{filters}
        ORDER BY d.distance_m, p.id
        LIMIT :limit"""


# --- directory feed -----------------------------------------------------------------------


async def begin_snapshot(session: AsyncSession) -> None:
    """Make the rest of this transaction read one snapshot (counter and rows agree)."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


async def current_version(session: AsyncSession) -> int:
    result = await session.execute(text("SELECT version FROM directory_counter WHERE id = 1"))
    return int(result.scalar_one())


async def providers_changed_since(session: AsyncSession, since: int) -> list[Row]:
    result = await session.execute(
        text("""
        SELECT id, name, kind, status, region_code, lat, lon FROM provider
        WHERE version > :since ORDER BY version, id"""),
        {"since": since},
    )
    return [dict(r) for r in result.mappings()]


async def terminals_changed_since(session: AsyncSession, since: int) -> list[Row]:
    result = await session.execute(
        text("""
        SELECT id, provider_id, name, status, secret_sha256 FROM terminal
        WHERE version > :since ORDER BY version, id"""),
        {"since": since},
    )
    return [dict(r) for r in result.mappings()]


async def terminal_credential(session: AsyncSession, terminal_id: uuid.UUID) -> Row | None:
    result = await session.execute(
        text("SELECT id, provider_id, status, secret_sha256 FROM terminal WHERE id = :id"),
        {"id": terminal_id},
    )
    row = result.mappings().one_or_none()
    return dict(row) if row else None


async def registry_page(
    session: AsyncSession,
    *,
    region_prefix: str | None,
    provider_id: uuid.UUID | None,
    status: str | None,
    kind: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[Row]:
    """Providers in id order (ids are time-ordered), filtered, from after `after`."""
    clauses, params = ["TRUE"], {"limit": limit}
    if region_prefix:
        clauses.append("region_code LIKE :prefix")
        params["prefix"] = region_prefix + "%"
    for name, value in (("id", provider_id), ("status", status), ("kind", kind)):
        if value is not None:
            clauses.append(f"{name} = :{name}")
            params[name] = value
    if after is not None:
        clauses.append("id > :after")
        params["after"] = after
    result = await session.execute(
        text(f"""
        SELECT id, name, kind, uscc, region_code, address, lat, lon, status, credit_points,
               created_at, updated_at
        FROM provider WHERE {" AND ".join(clauses)} ORDER BY id LIMIT :limit"""),
        params,
    )
    return [dict(r) for r in result.mappings()]


# --- settlement bank account changes (approved by an officer) -----------------------------

_CHANGE_COLUMNS = """id, provider_id, bank_name, account_name, account_number_masked, status,
    requested_by, requested_at, decided_by, decided_at, reason"""


async def supersede_pending_bank_change(session: AsyncSession, provider_id: uuid.UUID) -> None:
    await session.execute(
        text(
            "UPDATE bank_account_change SET status = 'superseded', decided_at = now() "
            "WHERE provider_id = :id AND status = 'pending'"
        ),
        {"id": provider_id},
    )


async def insert_bank_change(session: AsyncSession, row: Row) -> None:
    await session.execute(
        text("""
        INSERT INTO bank_account_change (id, provider_id, bank_name, account_name,
                                         account_number_enc, account_number_masked,
                                         requested_by)
        VALUES (:id, :provider_id, :bank_name, :account_name, :account_number_enc,
                :account_number_masked, :requested_by)"""),
        row,
    )


async def bank_changes(
    session: AsyncSession,
    provider_id: uuid.UUID,
    *,
    change_id: uuid.UUID | None = None,
    lock: bool = False,
    with_number: bool = False,
) -> list[Row]:
    """A provider's bank account changes, newest first (or the one asked for)."""
    cols = _CHANGE_COLUMNS + (", account_number_enc" if with_number else "")
    sql = (
        f"SELECT {cols} FROM bank_account_change WHERE provider_id = :pid"
        + (" AND id = :cid" if change_id else "")
        + " ORDER BY requested_at DESC, id"
        + (" FOR UPDATE" if lock else "")
    )
    result = await session.execute(text(sql), {"pid": provider_id, "cid": change_id})
    return [dict(r) for r in result.mappings()]


async def pending_bank_changes(
    session: AsyncSession, region_prefix: str | None, limit: int
) -> list[Row]:
    """Pending bank account changes of providers in a region (all with no prefix), oldest
    request first, each with its provider's name, region and the account it is paid to now."""
    cols = ", ".join(f"c.{c.strip()}" for c in _CHANGE_COLUMNS.split(","))
    result = await session.execute(
        text(f"""
        SELECT {cols}, p.name AS provider_name, p.region_code,
               p.bank_name AS current_bank_name, p.bank_account_name AS current_account_name,
               p.bank_account_number_masked AS current_account_number_masked
          FROM bank_account_change c JOIN provider p ON p.id = c.provider_id
         WHERE c.status = 'pending' AND p.status <> 'revoked'
           AND (CAST(:prefix AS text) IS NULL OR p.region_code LIKE :prefix || '%')
         ORDER BY c.requested_at, c.id
         LIMIT :limit"""),
        {"prefix": region_prefix, "limit": limit},
    )
    return [dict(r) for r in result.mappings()]


async def decide_bank_change(
    session: AsyncSession, change_id: uuid.UUID, status: str, actor: str, reason: str | None
) -> None:
    await session.execute(
        text(
            "UPDATE bank_account_change SET status = :status, decided_by = :actor, "
            "decided_at = now(), reason = :reason WHERE id = :id"
        ),
        {"id": change_id, "status": status, "actor": actor, "reason": reason},
    )
