"""Calls from the ledger to the other services: none. The ledger is called (by the voucher
service's relay and issuance runs); settlement's calls to the voucher and provider services
and to Stripe are in services/ledger/settlement/clients.py."""
