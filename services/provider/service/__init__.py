"""The provider service's rules (no FastAPI, no SQL: that is in repository/), one module per
area. Import a module, not its names: `from services.provider.service import registry`.

Orchestration (reads and writes through the repository):
- `registry`: applying, the profile, the price list, the change log, the register
- `workflow`: the review and status workflow (approve, ask for changes, refuse, resubmit,
  suspend, revoke) and the credit record (automatic suspension)
- `documents`: licence documents uploaded with an application, read by the provider and the
  officers of its region
- `bank_account`: settlement account changes, asked by the admin, decided by an officer
- `terminals`: terminal credentials and signing in with one
- `search`: nearby search and the directory feed the voucher service polls
- `access`: who may see and change a provider, and loading it

Pure rules (no I/O, no database):
- `vocabulary`: kinds, statuses and their workflow, service categories, credit kinds
- `review_rules`: who takes which review step from which status (`STEPS`,
  `allowed_actions`), and licence documents judged by their content (`sniff`)
- `uscc`: the unified social credit code (GB 32100-2015) and its check character
- `geo`: the Earth's radius and the bounding box of nearby search
- `pii`: encryption and masking of the contact phone and the settlement account

Every change transaction locks the provider row first and then takes the next directory
version (repository/__init__.py gives the lock order); the change is stamped with that
version, so the voucher service, polling `search.directory(since)`, sees it within its poll
interval.
"""
