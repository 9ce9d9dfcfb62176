"""All SQL of the web's own database: typed functions over an AsyncSession, statements built
from the SQLModel tables of web/models.py (no SQL strings). One module per area: `users`
(accounts and recovery codes), `sessions`, `throttle`, `audit`."""
