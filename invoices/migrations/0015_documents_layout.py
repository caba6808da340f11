"""The documents table's layout for bulk ingest (issue #15 §2, docs/decisions/0011-documents-layout.md).

* The registration-level twins of the date and value sort indexes go: a page of some GSTINs reads the tenant-level
  index past the other GSTINs' rows, or fetches its GSTINs' rows through the natural key (tenant, registration, …)
  and sorts them, whichever the planner finds cheaper.
* The row-by-row foreign keys to the tenant and to the registration (two checks per inserted row, each a query and
  a row lock: about a sixth of a bulk COPY's time each) become one check per statement: a trigger reads the
  statement's new rows once, locks their registrations against deletion until commit (``FOR KEY SHARE``, as a
  foreign key's check does) and refuses a row whose (registration, tenant) no registration has, so a document's
  tenant is now its GSTIN's by constraint. A registration that documents name cannot be deleted, nor its id or
  tenant changed (a trigger on the registrations, as the foreign key's action was). The tenant's row stays
  protected through its registrations' own foreign key. Django still knows both relations (``db_constraint=False``)
  and emulates PROTECT on deletes through the ORM, as before.
* The trigram index of document numbers keeps up to 64 MB of new entries in its pending list (it was 256 kB, which
  merged a few hundred numbers at a time during a COPY); ingest merges the list in bulk at the end of each batch, in
  the batch's transaction (``invoices.services.ingest._merge_pending_numbers``), so searches never read a long list.
"""

import django.db.models.deletion
from django.db import migrations, models

from tenancy.registration_check import Names, backward, forward

TRGM_INDEX = "doc_number_trgm_idx"  # migration 0008

NAMES = Names(
    table="invoices_supplierdocument",
    function="invoices_doc",
    trigger="doc",
    keeps="registration_keeps_documents",
    keeps_function="invoices_registration_keeps_documents",
    new_rows="new_docs",
    alias="d",
    noun="documents",
    rows="documents",
)
FORWARD, BACKWARD = forward(NAMES), backward(NAMES)


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0014_pending_limit_summary"),
        ("tenancy", "0005_tenant_deleted_at"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="supplierdocument", name="doc_reg_date_idx"),
        migrations.RemoveIndex(model_name="supplierdocument", name="doc_reg_value_idx"),
        migrations.AlterField(
            model_name="supplierdocument",
            name="registration",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="documents",
                to="tenancy.registration",
            ),
        ),
        migrations.AlterField(
            model_name="supplierdocument",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        migrations.RunSQL(FORWARD, reverse_sql=BACKWARD),
        migrations.RunSQL(
            f"ALTER INDEX {TRGM_INDEX} SET (gin_pending_list_limit = 65536)",
            reverse_sql=f"ALTER INDEX {TRGM_INDEX} SET (gin_pending_list_limit = 256)",
        ),
    ]
