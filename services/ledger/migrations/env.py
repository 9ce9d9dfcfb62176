from services.common.alembic_env import run_migrations
from services.ledger import models  # noqa: F401 - registers every table on the metadata
from services.ledger.models import metadata

run_migrations(metadata)
