from services.common.alembic_env import run_migrations
from services.voucher import models  # noqa: F401 - registers every table on the metadata
from services.voucher.models import metadata

run_migrations(metadata)
