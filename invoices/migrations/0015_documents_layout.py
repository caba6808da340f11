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

TRGM_INDEX = "doc_number_trgm_idx"  # migration 0008

FORWARD = """
CREATE FUNCTION invoices_doc_registration_refuse(registration_id bigint, tenant_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "invoices_supplierdocument" violates the documents'' registration check'
        USING ERRCODE = 'foreign_key_violation',
              DETAIL = format('Key (registration_id, tenant_id)=(%s, %s) is not present in table "tenancy_registration".',
                              registration_id, tenant_id);
END
$$;
CREATE FUNCTION invoices_doc_registration_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    PERFORM 1 FROM tenancy_registration r
     WHERE r.id IN (SELECT n.registration_id FROM new_docs n) ORDER BY r.id FOR KEY SHARE OF r;
    SELECT k.registration_id, k.tenant_id INTO bad
      FROM (SELECT DISTINCT registration_id, tenant_id FROM new_docs) k
     WHERE NOT EXISTS (SELECT 1 FROM tenancy_registration r WHERE r.id = k.registration_id AND r.tenant_id = k.tenant_id)
     LIMIT 1;
    IF FOUND THEN
        PERFORM invoices_doc_registration_refuse(bad.registration_id, bad.tenant_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION invoices_doc_registration_row_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM tenancy_registration r WHERE r.id = NEW.registration_id AND r.tenant_id = NEW.tenant_id
        FOR KEY SHARE OF r;
    IF NOT FOUND THEN
        PERFORM invoices_doc_registration_refuse(NEW.registration_id, NEW.tenant_id);
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION invoices_registration_keeps_documents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM invoices_supplierdocument d WHERE d.tenant_id = OLD.tenant_id AND d.registration_id = OLD.id)
    THEN
        RAISE EXCEPTION 'update or delete on table "tenancy_registration" violates the documents'' registration check'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "invoices_supplierdocument".', OLD.id);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER doc_registration_after_insert AFTER INSERT ON invoices_supplierdocument
    REFERENCING NEW TABLE AS new_docs FOR EACH STATEMENT EXECUTE FUNCTION invoices_doc_registration_check();
CREATE TRIGGER doc_registration_before_update BEFORE UPDATE OF registration_id, tenant_id ON invoices_supplierdocument
    FOR EACH ROW WHEN (OLD.registration_id IS DISTINCT FROM NEW.registration_id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION invoices_doc_registration_row_check();
CREATE TRIGGER registration_keeps_documents_delete BEFORE DELETE ON tenancy_registration
    FOR EACH ROW EXECUTE FUNCTION invoices_registration_keeps_documents();
CREATE TRIGGER registration_keeps_documents_update BEFORE UPDATE OF id, tenant_id ON tenancy_registration
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION invoices_registration_keeps_documents();
-- Rows that already break the check would make every later check of theirs fail: refuse the migration instead.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM invoices_supplierdocument d
               WHERE NOT EXISTS (SELECT 1 FROM tenancy_registration r
                                 WHERE r.id = d.registration_id AND r.tenant_id = d.tenant_id)) THEN
        RAISE EXCEPTION 'documents whose tenant is not their registration''s: fix them before this migration';
    END IF;
END $$;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS doc_registration_after_insert ON invoices_supplierdocument;
DROP TRIGGER IF EXISTS doc_registration_before_update ON invoices_supplierdocument;
DROP TRIGGER IF EXISTS registration_keeps_documents_delete ON tenancy_registration;
DROP TRIGGER IF EXISTS registration_keeps_documents_update ON tenancy_registration;
DROP FUNCTION IF EXISTS invoices_doc_registration_check();
DROP FUNCTION IF EXISTS invoices_doc_registration_row_check();
DROP FUNCTION IF EXISTS invoices_registration_keeps_documents();
DROP FUNCTION IF EXISTS invoices_doc_registration_refuse(bigint, bigint);
"""


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
