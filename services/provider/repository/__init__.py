"""All SQL of the provider service: SQLAlchemy statements on the SQLModel tables of
`services.provider.models`, run on the caller's AsyncSession, returning typed values. The
service has no hot path, so there is no raw SQL here.

- `directory`: the directory version counter and the feed the voucher service polls
- `providers`: the register, profiles, the change log and price lists
- `workflow`: status history and the credit record
- `terminals`: terminal credentials
- `bank_accounts`: settlement account changes waiting for an officer
- `documents`: licence documents kept with an application (the file in a bytea column)
- `search`: nearby search (a bounding box on the `point` column, then the exact distance)

Lock order in every change transaction: the provider row (`providers.get_provider(...,
lock=True)`, FOR UPDATE) first, then the directory counter (`directory.next_version`), so
writers never wait on each other in a cycle. The counter is taken last and held to COMMIT:
versions are therefore committed in order.

Writes are Core statements (`insert`/`update`/`delete` on the model) with
`synchronize_session=False`: they never touch objects already loaded in the session, and every
read of a row that may have changed in the same transaction asks for `populate_existing`.
"""
