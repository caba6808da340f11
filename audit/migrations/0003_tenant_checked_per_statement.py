"""The ledger's tenant is checked once per statement, not by a row-by-row foreign key, and its lone tenant index goes
(docs/decisions/0011-documents-layout.md did the same for the documents).

Bulk paths write one event per changed row: 100,000 for a bulk accept, 200,000 for a register import, each checked
at commit by a query and a row lock on the tenant, and each written into an index on the tenant alone that the
unique (tenant, seq) index already serves. A statement-level trigger reads the statement's new events once, locks
their tenants against deletion until commit (``FOR KEY SHARE``, as a foreign key's check does) and refuses an event
of a tenant that does not exist. A tenant with events cannot be deleted (tenants are only marked deleted: their
ledger stays), nor its id changed. Events are never updated (migration 0002).
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION audit_event_tenant_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    PERFORM 1 FROM tenancy_tenant t WHERE t.id IN (SELECT n.tenant_id FROM new_events n) ORDER BY t.id FOR KEY SHARE OF t;
    SELECT k.tenant_id INTO bad FROM (SELECT DISTINCT tenant_id FROM new_events) k
     WHERE NOT EXISTS (SELECT 1 FROM tenancy_tenant t WHERE t.id = k.tenant_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert on table "audit_auditevent" violates the ledger''s tenant check'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (tenant_id)=(%s) is not present in table "tenancy_tenant".', bad);
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION audit_tenant_keeps_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_auditevent e WHERE e.tenant_id = OLD.id) THEN
        RAISE EXCEPTION 'update or delete on table "tenancy_tenant" violates the ledger''s tenant check'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "audit_auditevent".', OLD.id);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER event_tenant_after_insert AFTER INSERT ON audit_auditevent
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION audit_event_tenant_check();
CREATE TRIGGER tenant_keeps_events_delete BEFORE DELETE ON tenancy_tenant
    FOR EACH ROW EXECUTE FUNCTION audit_tenant_keeps_events();
CREATE TRIGGER tenant_keeps_events_update BEFORE UPDATE OF id ON tenancy_tenant
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION audit_tenant_keeps_events();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS event_tenant_after_insert ON audit_auditevent;
DROP TRIGGER IF EXISTS tenant_keeps_events_delete ON tenancy_tenant;
DROP TRIGGER IF EXISTS tenant_keeps_events_update ON tenancy_tenant;
DROP FUNCTION IF EXISTS audit_event_tenant_check();
DROP FUNCTION IF EXISTS audit_tenant_keeps_events();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("tenancy", "0005_tenant_deleted_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
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
