"""Sign-in, accounts and sessions: orchestration over web/repository.

The pure rules (no I/O, no database) are modules of their own: `totp` (RFC 6238 codes),
`throttle` (how long wrong passwords make someone wait) and `passwords` (argon2id and what a
new password must be). `accounts`, `sessions`, `signin`, `two_factor` and `audit` use them
with the database; `context.Identity` is what they need from the settings.
"""
