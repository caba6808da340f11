"""Let IMS actions update documents in place (HOT): no index names a local_* column, and pages keep free room.

PostgreSQL writes a new row version without touching any index (a heap-only tuple) when no indexed column changes
and the row's page has room. A bulk action changes only the local_* columns, so:

* the partial index ``doc_pending_push_idx`` (condition ``local_action IS NOT NULL``) goes: its condition made
  every action update a full one, with a new entry in each of the table's indexes;
* the documents table keeps half of each page free (fillfactor 50) for the new versions. A bulk action changes
  whole runs of neighbouring documents (one period, one supplier, the latest sync) in one transaction, so every row
  of a page gets a new version before any old one can be pruned: the page must hold two versions of each row.
  Measured on 1,000,000 documents, an UPDATE of 100,000 of them: fillfactor 100 → 0 % in place, 16–25 s under
  load; 85 → 24 % in place, 16.5 s; 50 → all in place, 1.1 s. The table takes about twice the space (439 → 911 MB
  per million documents); its indexes, larger than the table, are unchanged. After the transaction, the next
  reader of a page prunes the old versions, so the room is there again for the next action (no VACUUM needed).

The fillfactor applies to pages written from now on; an existing large table gets it for its old pages with
``VACUUM FULL invoices_supplierdocument`` (or pg_repack) in a maintenance window.
"""

from django.db import migrations

FILLFACTOR = 50


class Migration(migrations.Migration):

    dependencies = [
        ("invoices", "0005_supplier_date_index"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="supplierdocument", name="doc_pending_push_idx"),
        migrations.RunSQL(
            f"ALTER TABLE invoices_supplierdocument SET (fillfactor = {FILLFACTOR})",
            "ALTER TABLE invoices_supplierdocument RESET (fillfactor)",
        ),
    ]
