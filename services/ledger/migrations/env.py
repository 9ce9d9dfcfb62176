from services.common.alembic_env import run_migrations
from services.common.migrate import service_metadata

# The ledger's tables and settlement's (models.TABLE_MODULES), all on one metadata.
run_migrations(service_metadata("ledger"))
