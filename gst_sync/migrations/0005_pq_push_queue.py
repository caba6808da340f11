"""The push queue as a narrow table kept by triggers on the documents table.

Finding a GSTIN's push queue (documents with ``local_action`` set, not vanished) used the partial index
``doc_pending_push_idx``; ``invoices`` migration 0006 dropped it so that bulk actions update documents in place
(HOT), and the queue became a scan of the GSTIN's documents (2.2 s for 600,000). ``gst_sync_pushqueue`` holds one
row per queued document (id, tenant, GSTIN, local action, portal action), written by statement-level AFTER
triggers with transition tables on ``invoices_supplierdocument``:

* INSERT and UPDATE: documents of the statement that now have a local action and are not vanished are upserted
  (the row changes only when its actions change); after an UPDATE, those that no longer qualify are removed;
* DELETE: their entries are removed.

Every writer (bulk and single actions, approvals restoring a returned batch, push results, ingest marking a
document vanished or bringing it back, raw SQL) keeps the queue right in its own transaction. A trigger on UPDATE
with a transition table cannot name columns, so every UPDATE of documents captures its new rows; statements that
do not touch the queue pay that capture and one probe per row (measured in bench/bench_push.py).

The existing queue is copied in the same transaction as the triggers are created (which locks writers out of the
documents table until the migration commits), so nothing is missed.
"""

import django.db.models.deletion
from django.db import migrations, models

FUNCTIONS = r"""
CREATE FUNCTION gst_sync_pushqueue_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM gst_sync_pushqueue q
         USING new_docs n
         WHERE q.document_id = n.id AND (n.local_action IS NULL OR n.vanished_at IS NOT NULL);
    END IF;
    INSERT INTO gst_sync_pushqueue AS q (document_id, tenant_id, registration_id, local_action, portal_action)
    SELECT n.id, n.tenant_id, n.registration_id, n.local_action, n.portal_action
      FROM new_docs n
     WHERE n.local_action IS NOT NULL AND n.vanished_at IS NULL
    ON CONFLICT (document_id) DO UPDATE
       SET local_action = EXCLUDED.local_action, portal_action = EXCLUDED.portal_action
     WHERE (q.local_action, q.portal_action) IS DISTINCT FROM (EXCLUDED.local_action, EXCLUDED.portal_action);
    RETURN NULL;
END
$$;

CREATE FUNCTION gst_sync_pushqueue_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM gst_sync_pushqueue q USING old_docs o WHERE q.document_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER pushqueue_after_insert AFTER INSERT ON invoices_supplierdocument
    REFERENCING NEW TABLE AS new_docs FOR EACH STATEMENT EXECUTE FUNCTION gst_sync_pushqueue_keep();
CREATE TRIGGER pushqueue_after_update AFTER UPDATE ON invoices_supplierdocument
    REFERENCING NEW TABLE AS new_docs FOR EACH STATEMENT EXECUTE FUNCTION gst_sync_pushqueue_keep();
CREATE TRIGGER pushqueue_after_delete AFTER DELETE ON invoices_supplierdocument
    REFERENCING OLD TABLE AS old_docs FOR EACH STATEMENT EXECUTE FUNCTION gst_sync_pushqueue_forget();

INSERT INTO gst_sync_pushqueue (document_id, tenant_id, registration_id, local_action, portal_action)
SELECT id, tenant_id, registration_id, local_action, portal_action FROM invoices_supplierdocument
 WHERE local_action IS NOT NULL AND vanished_at IS NULL
ON CONFLICT (document_id) DO NOTHING;
"""

DROP = r"""
DROP TRIGGER IF EXISTS pushqueue_after_insert ON invoices_supplierdocument;
DROP TRIGGER IF EXISTS pushqueue_after_update ON invoices_supplierdocument;
DROP TRIGGER IF EXISTS pushqueue_after_delete ON invoices_supplierdocument;
DROP FUNCTION IF EXISTS gst_sync_pushqueue_keep();
DROP FUNCTION IF EXISTS gst_sync_pushqueue_forget();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('gst_sync', '0004_outward'),
        ('invoices', '0006_blk_action_hot'),
        ('tenancy', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='PushQueueEntry',
            fields=[
                ('document', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='invoices.supplierdocument')),
                ('local_action', models.CharField(max_length=1)),
                ('portal_action', models.CharField(max_length=1)),
                ('registration', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tenancy.registration')),
                ('tenant', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tenancy.tenant')),
            ],
            options={
                'db_table': 'gst_sync_pushqueue',
                'db_table_comment': 'Documents with a local action not yet on the portal; kept by triggers on documents',
                'indexes': [models.Index(fields=['tenant', 'registration'], name='pushqueue_reg_idx')],
            },
        ),
        migrations.RunSQL(FUNCTIONS, DROP),
    ]
