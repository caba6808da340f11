"""The audit trail people read: the ledger page with its filters, its Excel export and `manage.py audit_verify`.
The ledger itself (the events, the hash chain, the writer every service calls) is the audit app below."""
