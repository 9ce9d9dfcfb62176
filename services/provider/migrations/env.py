from services.common.alembic_env import run_migrations
from services.provider import models  # noqa: F401 - registers every table on the metadata
from services.provider.models import metadata

run_migrations(metadata)
