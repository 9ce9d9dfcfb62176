"""The provider migrations match the models and are reversible."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.common.migrate import downgrade, upgrade
from services.provider.models import metadata


# models.py registers the `point` type for reflection, so the column's type is compared too.
@pytest.mark.filterwarnings("error:Did not recognize type 'point'")
async def test_models_match_the_migrations_and_downgrade_works(make_db):
    sdb = await make_db("provider")

    def check() -> list:
        from sqlalchemy.ext.asyncio import create_async_engine

        from services.common.db import sqlalchemy_url

        async def run() -> list:
            engine = create_async_engine(sqlalchemy_url(sdb.owner_url))
            async with engine.connect() as conn:
                diff = await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
            await engine.dispose()
            return diff

        return asyncio.run(run())

    diff = await asyncio.to_thread(check)
    assert diff == []
    await asyncio.to_thread(downgrade, "provider", sdb.owner_url, "provider_0001")
    await asyncio.to_thread(upgrade, "provider", sdb.owner_url)
