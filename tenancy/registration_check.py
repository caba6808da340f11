"""The SQL of a per-statement registration check (docs/decisions/0011-documents-layout.md), for the migrations of
the tables that name a GSTIN in bulk: the supplier documents (invoices 0015) and the register lines (reconciliation
0010). In place of two row-by-row foreign keys (to the tenant and to the registration), a trigger reads a statement's
new rows once, locks their registrations against deletion until commit (``FOR KEY SHARE``, as a foreign key's check
does) and refuses a row whose (registration, tenant) no registration has; a row moved to another registration is
checked by itself; a registration that rows name cannot be deleted, nor its id or tenant changed. Pure strings: the
migrations are its only callers, and what it returns for a table must not change once a migration has run it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Names:
    table: str  # the table checked, e.g. invoices_supplierdocument
    function: str  # prefix of its check functions, e.g. invoices_doc
    trigger: str  # prefix of its triggers, e.g. doc
    keeps: str  # the registrations' trigger function and triggers' stem, e.g. registration_keeps_documents
    keeps_function: str  # e.g. invoices_registration_keeps_documents
    new_rows: str  # the statement's transition table, e.g. new_docs
    alias: str  # the table's alias in the guards, e.g. d
    noun: str  # in the messages, e.g. documents
    rows: str  # in the migration's guard, e.g. documents


def forward(n: Names) -> str:
    sql = f"""
CREATE FUNCTION {n.function}_registration_refuse(registration_id bigint, tenant_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "{n.table}" violates the {n.noun}'' registration check'
        USING ERRCODE = 'foreign_key_violation',
              DETAIL = format('Key (registration_id, tenant_id)=(%s, %s) is not present in table "tenancy_registration".',
                              registration_id, tenant_id);
END
$$;
CREATE FUNCTION {n.function}_registration_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    PERFORM 1 FROM tenancy_registration r
     WHERE r.id IN (SELECT n.registration_id FROM {n.new_rows} n) ORDER BY r.id FOR KEY SHARE OF r;
    SELECT k.registration_id, k.tenant_id INTO bad
      FROM (SELECT DISTINCT registration_id, tenant_id FROM {n.new_rows}) k
     WHERE NOT EXISTS (SELECT 1 FROM tenancy_registration r WHERE r.id = k.registration_id AND r.tenant_id = k.tenant_id)
     LIMIT 1;
    IF FOUND THEN
        PERFORM {n.function}_registration_refuse(bad.registration_id, bad.tenant_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION {n.function}_registration_row_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM tenancy_registration r WHERE r.id = NEW.registration_id AND r.tenant_id = NEW.tenant_id
        FOR KEY SHARE OF r;
    IF NOT FOUND THEN
        PERFORM {n.function}_registration_refuse(NEW.registration_id, NEW.tenant_id);
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION {n.keeps_function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM {n.table} {n.alias} WHERE {n.alias}.tenant_id = OLD.tenant_id AND {n.alias}.registration_id = OLD.id)
    THEN
        RAISE EXCEPTION 'update or delete on table "tenancy_registration" violates the {n.noun}'' registration check'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "{n.table}".', OLD.id);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER {n.trigger}_registration_after_insert AFTER INSERT ON {n.table}
    REFERENCING NEW TABLE AS {n.new_rows} FOR EACH STATEMENT EXECUTE FUNCTION {n.function}_registration_check();
CREATE TRIGGER {n.trigger}_registration_before_update BEFORE UPDATE OF registration_id, tenant_id ON {n.table}
    FOR EACH ROW WHEN (OLD.registration_id IS DISTINCT FROM NEW.registration_id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION {n.function}_registration_row_check();
CREATE TRIGGER {n.keeps}_delete BEFORE DELETE ON tenancy_registration
    FOR EACH ROW EXECUTE FUNCTION {n.keeps_function}();
CREATE TRIGGER {n.keeps}_update BEFORE UPDATE OF id, tenant_id ON tenancy_registration
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION {n.keeps_function}();
-- Rows that already break the check would make every later check of theirs fail: refuse the migration instead.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM {n.table} {n.alias}
               WHERE NOT EXISTS (SELECT 1 FROM tenancy_registration r
                                 WHERE r.id = {n.alias}.registration_id AND r.tenant_id = {n.alias}.tenant_id)) THEN
        RAISE EXCEPTION '{n.rows} whose tenant is not their registration''s: fix them before this migration';
    END IF;
END $$;
"""  # noqa: S608  # nosec B608  # names from the migrations' own constants, no values
    return sql


def backward(n: Names) -> str:
    sql = f"""
DROP TRIGGER IF EXISTS {n.trigger}_registration_after_insert ON {n.table};
DROP TRIGGER IF EXISTS {n.trigger}_registration_before_update ON {n.table};
DROP TRIGGER IF EXISTS {n.keeps}_delete ON tenancy_registration;
DROP TRIGGER IF EXISTS {n.keeps}_update ON tenancy_registration;
DROP FUNCTION IF EXISTS {n.function}_registration_check();
DROP FUNCTION IF EXISTS {n.function}_registration_row_check();
DROP FUNCTION IF EXISTS {n.keeps_function}();
DROP FUNCTION IF EXISTS {n.function}_registration_refuse(bigint, bigint);
"""  # noqa: S608  # nosec B608  # names from the migrations' own constants
    return sql
