from services.common.alembic_env import run_migrations
from web import models  # noqa: F401 - registers every table on the metadata
from web.models import metadata

run_migrations(metadata)
