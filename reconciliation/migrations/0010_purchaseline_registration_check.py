"""The purchase register's lines check their GSTIN once per statement, not by two row-by-row foreign keys
(docs/decisions/0011-documents-layout.md, which did the same for the documents; issue #12: a 200,000-row import).

A row-by-row foreign key is checked at commit, one query and one row lock per row and key: two per line to the
tenant and to the registration, 400,000 checks at the commit of a 200,000-row import. A statement-level trigger
reads the statement's new lines once, locks their registrations against deletion until commit (``FOR KEY SHARE``,
as a foreign key's check does) and refuses a line whose (registration, tenant) no registration has, so a line's
tenant is its GSTIN's by constraint. A registration that lines name cannot be deleted, nor its id or tenant changed.
Django still knows both relations (``db_constraint=False``) and emulates PROTECT on deletes through the ORM.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION recon_line_registration_refuse(registration_id bigint, tenant_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "reconciliation_purchaseline" violates the lines'' registration check'
        USING ERRCODE = 'foreign_key_violation',
              DETAIL = format('Key (registration_id, tenant_id)=(%s, %s) is not present in table "tenancy_registration".',
                              registration_id, tenant_id);
END
$$;
CREATE FUNCTION recon_line_registration_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    PERFORM 1 FROM tenancy_registration r
     WHERE r.id IN (SELECT n.registration_id FROM new_lines n) ORDER BY r.id FOR KEY SHARE OF r;
    SELECT k.registration_id, k.tenant_id INTO bad
      FROM (SELECT DISTINCT registration_id, tenant_id FROM new_lines) k
     WHERE NOT EXISTS (SELECT 1 FROM tenancy_registration r WHERE r.id = k.registration_id AND r.tenant_id = k.tenant_id)
     LIMIT 1;
    IF FOUND THEN
        PERFORM recon_line_registration_refuse(bad.registration_id, bad.tenant_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION recon_line_registration_row_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM tenancy_registration r WHERE r.id = NEW.registration_id AND r.tenant_id = NEW.tenant_id
        FOR KEY SHARE OF r;
    IF NOT FOUND THEN
        PERFORM recon_line_registration_refuse(NEW.registration_id, NEW.tenant_id);
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION recon_registration_keeps_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM reconciliation_purchaseline p WHERE p.tenant_id = OLD.tenant_id AND p.registration_id = OLD.id)
    THEN
        RAISE EXCEPTION 'update or delete on table "tenancy_registration" violates the lines'' registration check'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "reconciliation_purchaseline".', OLD.id);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER line_registration_after_insert AFTER INSERT ON reconciliation_purchaseline
    REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION recon_line_registration_check();
CREATE TRIGGER line_registration_before_update BEFORE UPDATE OF registration_id, tenant_id ON reconciliation_purchaseline
    FOR EACH ROW WHEN (OLD.registration_id IS DISTINCT FROM NEW.registration_id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION recon_line_registration_row_check();
CREATE TRIGGER registration_keeps_lines_delete BEFORE DELETE ON tenancy_registration
    FOR EACH ROW EXECUTE FUNCTION recon_registration_keeps_lines();
CREATE TRIGGER registration_keeps_lines_update BEFORE UPDATE OF id, tenant_id ON tenancy_registration
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION recon_registration_keeps_lines();
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM reconciliation_purchaseline p
               WHERE NOT EXISTS (SELECT 1 FROM tenancy_registration r
                                 WHERE r.id = p.registration_id AND r.tenant_id = p.tenant_id)) THEN
        RAISE EXCEPTION 'register lines whose tenant is not their registration''s: fix them before this migration';
    END IF;
END $$;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS line_registration_after_insert ON reconciliation_purchaseline;
DROP TRIGGER IF EXISTS line_registration_before_update ON reconciliation_purchaseline;
DROP TRIGGER IF EXISTS registration_keeps_lines_delete ON tenancy_registration;
DROP TRIGGER IF EXISTS registration_keeps_lines_update ON tenancy_registration;
DROP FUNCTION IF EXISTS recon_line_registration_check();
DROP FUNCTION IF EXISTS recon_line_registration_row_check();
DROP FUNCTION IF EXISTS recon_registration_keeps_lines();
DROP FUNCTION IF EXISTS recon_line_registration_refuse(bigint, bigint);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0009_registration_counts"),
        ("tenancy", "0005_tenant_deleted_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="purchaseline",
            name="registration",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.registration",
            ),
        ),
        migrations.AlterField(
            model_name="purchaseline",
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
    ]
