"""The care circle kept incrementally (docs/dashboard.md "The care circle's summary").

Each active person's row in `care_circle_person` says whether an approved meal point and an
approved care provider are within reach; `summary_care_circle` sums them per region code.
The database keeps both as people change (triggers on `beneficiary`: a new person, a changed
status, region or location is measured at once) and as providers change (a trigger on
`care_circle_point` re-measures only the people within reach of the provider's old and new
position). What the database cannot see is the provider directory, which this service holds
in memory: `sync` writes the directory's approved, located providers into
`care_circle_point` (only those that came, went, moved or changed kind) and the radii of
the settings into `care_circle_rule` (a change of radii re-measures everyone).

`sync` runs before every dashboard read and every `summary_interval_s` in the service."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from services.common.db import Database
from services.voucher.repository import circle as repo
from services.voucher.service.directory import ProviderDirectory

log = logging.getLogger("yiyang.voucher.circle")


def directory_points(directory: ProviderDirectory) -> dict[str, repo.StoredPoint]:
    """The providers the circle counts, by id: approved and located; a meal point is of kind
    meal_point or offers a `meal` item, a care provider is of any kind but meal_point."""
    out: dict[str, repo.StoredPoint] = {}
    for p in directory.providers.values():
        if not p.approved or p.lat is None or p.lon is None:
            continue
        meal = p.kind == "meal_point" or any(s.category == "meal" for s in p.services.values())
        out[p.id] = repo.StoredPoint(p.lat, p.lon, meal, p.kind != "meal_point")
    return out


@dataclass
class Synced:
    radii_changed: bool = False
    remeasured: int = 0  # people re-measured for new radii
    points_put: int = 0
    points_dropped: int = 0


async def sync(
    db: Database,
    directory: ProviderDirectory | None,
    *,
    meal_radius_m: int,
    care_radius_m: int,
) -> Synced:
    """One transaction: the radii, then the directory's points (skipped until the directory
    has loaded once: an empty directory at start-up is not "every provider gone")."""
    done = Synced()
    async with db.unit_of_work() as session:
        if await repo.lock_rule(session) != (meal_radius_m, care_radius_m):
            done.radii_changed = True
            done.remeasured = await repo.set_rule(session, meal_radius_m, care_radius_m)
        if directory is None or not directory.loaded.is_set():
            return done
        wanted = directory_points(directory)
        stored = await repo.points(session)
        gone = sorted(set(stored) - set(wanted))
        changed = {i: p for i, p in wanted.items() if stored.get(i) != p}
        await repo.drop_points(session, gone)
        await repo.put_points(session, changed)
        done.points_dropped, done.points_put = len(gone), len(changed)
    return done


async def sync_forever(
    db: Database,
    directory: ProviderDirectory,
    settings: Any,
    *,
    interval_s: float,
) -> None:
    """The voucher service's loop: a sync every `interval_s` with the radii of the settings
    (`care_circle_meal_radius_m`, `care_circle_care_radius_m`); a failure is logged and
    retried next time."""
    while True:
        try:
            await sync(
                db,
                directory,
                meal_radius_m=settings.care_circle_meal_radius_m,
                care_radius_m=settings.care_circle_care_radius_m,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("care circle sync failed: %s", type(exc).__name__)
        await asyncio.sleep(interval_s)
