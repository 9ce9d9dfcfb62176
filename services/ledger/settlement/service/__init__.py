"""Settlement's orchestration, one module per area: claims.py, copay.py (how co-payments
were paid), batches.py (payment batches and bank confirmations), cash_benefits.py,
reports.py (statements, aging), reconciliation.py.

The pure rules (no I/O, no database), each in a module of its own:
- claim_rules.py: what a claim may carry (`line_problem`, `copays_to_take`), who may see it
  and maker-checker (`preparers`);
- batch_rules.py: a batch's state, the list's cursor, which claims a batch may take;
- files.py: the payment instruction file, the bank's confirmation file and what a confirmed
  payment posts (`payment_plan`, `benefit_payment_plan`);
- secrets.py: bank account numbers at rest (sealing, masking);
- aging.py: the aging buckets;
- discrepancies.py: reconciliation's three-way comparison (`compare`,
  `compare_copay_claims`, `compare_stripe`).
"""
