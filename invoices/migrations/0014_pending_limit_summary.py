import django.db.models.deletion  # noqa: F401
from django.db import migrations, models

# The document summary (docs/decisions/0010-maintained-document-summary.md) gains one more group column,
# ``limit_month``: for a document kept Pending (effective action P) that may carry the one-period Pending limit
# (docs/rules/ims-actions.md §2.2: credit notes and the amendments the rules name) — filed by the supplier, ITC not
# unavailable for being ineligible or for a place of supply in the supplier's own state other than the
# recipient's — its GSTR-2B month (the portal's 2B period; else the filing date against the 11th / the 13th for
# IFF, never before the supplier's period; else the supplier's period), when that month is from October 2025 on;
# NULL for every other document. The dashboard reads the nearest Pending-limit date per GSTIN from it
# (returns/today.py). The rule constants are frozen here as they stand in gst/rule_data.py (cut-over 1-10-2025,
# cut-off days 11 / 13) and returns/twob.py (IFF); tests/summary_check.py holds the summary equal to the Python
# placement (returns.twob.twob_month) after every kind of write.
# An amendment's limit also depends on its original (direction, action, GSTR-3B filed): the summary counts it as a
# candidate only; the reader checks those few documents one by one, found by the new partial index on amendments.
_CANDIDATES = "('b2bcn', 'b2bcna', 'b2ba', 'b2bdna', 'ecoma')"
_MONTH = """CASE WHEN twob_period IS NOT NULL THEN twob_period
            WHEN supplier_filing_date IS NOT NULL THEN greatest(
              (date_trunc('month', supplier_filing_date::timestamp)
               - CASE WHEN extract(day FROM supplier_filing_date) <= CASE WHEN upper(src_form) IN ('IFF') THEN 13 ELSE 11 END
                      THEN interval '1 month' ELSE interval '0' END)::date,
              supplier_period)
            ELSE supplier_period END"""
_LIMIT = f"""CASE WHEN coalesce(local_action, portal_action) = 'P' AND supplier_filing_status = 'filed'
       AND section IN {_CANDIDATES} AND itc_eligible IS DISTINCT FROM 'N'
       AND NOT coalesce(pos <> '' AND left(supplier_gstin, 2) = pos
                        AND pos <> st_state, false)
       AND ({_MONTH}) >= DATE '2025-10-01'
  THEN ({_MONTH}) END"""
_COLS = "tenant_id, registration_id, section, action, supplier_period, local, limit_month, n, igst, cgst, sgst, cess"


def _function(key: str, *, limit: bool) -> str:
    cols = _COLS if limit else _COLS.replace(" limit_month,", "")
    # The recipient's state (place of supply): a hash join of the few registrations, not a subquery per row
    # (which tripled the trigger's time on a 100,000-document UPDATE).
    state = " LEFT JOIN (SELECT id AS st_reg, state_code AS st_state FROM tenancy_registration) st ON st.st_reg = registration_id"
    new_docs, old_docs, docs = (
        (f"new_docs{state}", f"old_docs{state}", f"invoices_supplierdocument{state}")
        if limit
        else ("new_docs", "old_docs", "invoices_supplierdocument")
    )
    width = "1, 2, 3, 4, 5, 6, 7" if limit else "1, 2, 3, 4, 5, 6"
    alias = "t, r, s, a, p, l, m" if limit else "t, r, s, a, p, l"
    return f"""
CREATE OR REPLACE FUNCTION invoices_docsummary_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO invoices_docsummarydelta ({cols})
        SELECT {key}, count(*), sum(igst), sum(cgst), sum(sgst), sum(cess)
          FROM {new_docs} WHERE vanished_at IS NULL GROUP BY {width};
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO invoices_docsummarydelta ({cols})
        SELECT {key}, -count(*), -sum(igst), -sum(cgst), -sum(sgst), -sum(cess)
          FROM {old_docs} WHERE vanished_at IS NULL GROUP BY {width};
    ELSE
        INSERT INTO invoices_docsummarydelta ({cols})
        SELECT {alias}, sum(n), sum(i), sum(c), sum(g), sum(e) FROM (
            SELECT {key}, 1, igst, cgst, sgst, cess FROM {new_docs} WHERE vanished_at IS NULL
            UNION ALL
            SELECT {key}, -1, -igst, -cgst, -sgst, -cess FROM {old_docs} WHERE vanished_at IS NULL
        ) d ({alias}, n, i, c, g, e)
        GROUP BY {alias}
        HAVING sum(n) <> 0 OR sum(i) <> 0 OR sum(c) <> 0 OR sum(g) <> 0 OR sum(e) <> 0;
    END IF;
    RETURN NULL;
END
$$;
DELETE FROM invoices_docsummarydelta;
DELETE FROM invoices_docsummary;
INSERT INTO invoices_docsummary ({cols})
SELECT {key}, count(*), sum(igst), sum(cgst), sum(sgst), sum(cess)
  FROM {docs} WHERE vanished_at IS NULL GROUP BY {width};
"""  # nosec B608  # trigger DDL from code constants


_OLD_KEY = (
    "tenant_id, registration_id, section, coalesce(local_action, portal_action), supplier_period, "
    "local_action IS NOT NULL"
)
_NEW_KEY = f"{_OLD_KEY}, {_LIMIT}"


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0013_document_irn"),
        ("tenancy", "0002_api_tokens"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="docsummary", name="docsummary_group_uniq"),
        *(
            migrations.AddField(
                model_name=model,
                name="limit_month",
                field=models.DateField(
                    null=True,
                    help_text="Kept pending under the one-period Pending limit (or an amendment that may be): its GSTR-2B month",
                ),
            )
            for model in ("docsummary", "docsummarydelta")
        ),
        migrations.AddConstraint(
            model_name="docsummary",
            constraint=models.UniqueConstraint(
                fields=("tenant", "registration", "section", "action", "supplier_period", "local", "limit_month"),
                name="docsummary_group_uniq",
                nulls_distinct=False,
            ),
        ),
        migrations.AddIndex(
            model_name="supplierdocument",
            index=models.Index(
                condition=models.Q(("is_amendment", True)),
                fields=["tenant", "registration", "supplier_period"],
                name="doc_amendment_period_idx",
            ),
        ),
        migrations.RunSQL(_function(_NEW_KEY, limit=True), _function(_OLD_KEY, limit=False)),
    ]
