"""The SQLModel tables are the one definition of each table: the migrations must build exactly
what the models describe (the equivalent of `alembic check`, against a real database)."""

from __future__ import annotations

import pytest

from services.common.migrate import DATABASES, model_drift, package


@pytest.mark.parametrize("service", DATABASES)
async def test_models_and_migrations_agree(make_db, service):
    db = await make_db(service)
    drift = await model_drift(service, db.owner_url)
    assert drift == [], (
        f"{package(service)}.models and its migrations differ; write a migration with "
        "`alembic revision --autogenerate` (CONTRIBUTING.md, Migrations) or fix the model:\n"
        + "\n".join(drift)
    )
