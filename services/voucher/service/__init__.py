"""Orchestration of the voucher service, one module per area (no FastAPI, no SQL: statements
are in repository/).

The pure rules, modules that do no I/O at all (no database, no network), tested without a
database:

- `redemption`  the redemption rule (`compute_split`), the spend area, the void window
- `assessment`  GB/T 42195-2022 scores -> grade, and the assessment's validity
- `eligibility` who a program is for (`is_eligible`, and `evaluate` for a rule written as data;
                `amount_fen`: a cash allowance's amount by age band)
- `identity`    the national ID (GB 11643), phone numbers, region codes of the province
- `periods`     periods (YYYY-MM), the calendar-month validity window, when a scheduled
                issuance is due (`due_period`)
- `codes`       QR tokens (Ed25519) and card PINs
- `qr`          QR code images
- `lifecycle_rules` which status change may follow which, and what each does (`plan`)
- `review_rules` receipts' review window, disputes' deadlines, home visits' radius and length
- `care_circle` the dashboard's 15-minute care circle (who has a meal point and a care
                provider near enough; `measure`, `most_uncovered`)
- `spot_rules`  the quarterly spot reassessment draw (reproducible: HMAC order of a seed)

Orchestration: `beneficiaries`, `beneficiary_import`, `lifecycle` (status changes and their
money), `status_import` (status files), `roster` (the officer's search and export),
`reassessments` (the due list and the spot draws),
`programs`, `issuance`, `scheduler` (scheduled issuance), `dashboard`,
`request_keys`, `redemption_flow` (the redemption and its preview), `void_claim`, `copay`
(co-payments) over `copay_refund` (their refunds), `directory` (the provider directory, held in
memory and polled from the provider service), `reviews` (receipts, confirmations,
disputes and appeals), `visits` (home visits: check-in and check-out).
"""
