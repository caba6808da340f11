"""When each document was booked in the purchase register, for its ITC claim period (returns.claims, docs/rules/
gstr3b.md §6): the posting date (else the bill date) of the register lines the GSTIN's latest finished
reconciliation paired it with. Registered in ``ReconciliationConfig.ready`` (returns sits below this app)."""

from __future__ import annotations

from ims_project.jobs import JobStatus

from .domain.matching import PAIRED

_PAIRED = ", ".join(f"'{o.value}'" for o in sorted(PAIRED))

# Rows (document_id, booked_on) for the GSTIN %(reg)s of tenant %(tenant)s.
BOOKED_SQL = f"""
SELECT m.document_id, coalesce(p.posting_date, p.doc_date) AS booked_on
FROM reconciliation_reconmatch m
JOIN reconciliation_purchaseline p ON p.id = m.purchase_id AND p.tenant_id = m.tenant_id
WHERE m.tenant_id = %(tenant)s AND m.registration_id = %(reg)s AND m.document_id IS NOT NULL
  AND m.outcome IN ({_PAIRED})
  AND m.run_id = (SELECT r.id FROM reconciliation_reconrun r
                  WHERE r.tenant_id = %(tenant)s AND r.status = '{JobStatus.DONE.value}'
                    AND r.registration_ids @> jsonb_build_array(%(reg)s)
                  ORDER BY r.id DESC LIMIT 1)
"""  # nosec B608  # enum values from code; values as params


def booked_sql() -> str:
    return BOOKED_SQL
