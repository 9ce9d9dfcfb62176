"""All SQL of the voucher service, one module per area: SQLAlchemy statements built from the
SQLModel tables of models.py, run on the caller's AsyncSession, returning typed rows.

The one exception is `redemption`, the hot-path module: the redemption statement and the
relay's statements in raw SQL on the asyncpg pool, each there because a measurement put it
there (its docstring says which).
"""
