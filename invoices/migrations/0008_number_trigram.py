"""Partial document-number search (issue #14 §3): a trigram GIN index on the upper-cased number, so that
``UPPER(doc_number) LIKE '%00029%'`` (``doc_number__icontains``, as Django writes it) finds
``INV/2026-27/00029`` by index instead of reading every document of the tenant.

pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it. The index is declared here
only, not in the model's Meta, so the model state (and ``makemigrations --check``) is unchanged. ``doc_number`` is
never updated by an action, so the index keeps action updates HOT (docs/decisions/0001-fillfactor-50-hot-updates.md).

New rows wait in the index's pending list until it is merged, and every search reads the whole list: with the
default 4 MB limit that is ~20,000 numbers read on each search (~30 ms measured), so the limit is 256 kB (a few
hundred numbers; ingest merges more often, the total work is the same).
"""

from django.db import migrations

INDEX = "doc_number_trgm_idx"


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0007_itc_availability_check"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            reverse_sql=migrations.RunSQL.noop,  # other indexes may use it; dropping it is a DBA's decision
        ),
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON invoices_supplierdocument "
            "USING gin ((UPPER(doc_number::text)) gin_trgm_ops) WITH (gin_pending_list_limit = 256)",
            reverse_sql=f"DROP INDEX IF EXISTS {INDEX}",
        ),
    ]
