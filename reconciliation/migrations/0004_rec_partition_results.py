"""Result rows partitioned by run (LIST on run_id): a run writes its rows into a table of its own without indexes,
builds them once at the end and attaches it; replacing an older run's results drops its table instead of deleting
a million rows. Rows of runs without a table of their own (older runs, rows written by hand) live in the default
partition. The primary key is (id, run_id) in the database, as partitioning requires; ids still come from one
sequence, so ``id`` stays unique and the model is unchanged."""

from django.db import migrations

FORWARD = """
CREATE TABLE reconciliation_reconmatch_p (LIKE reconciliation_reconmatch INCLUDING DEFAULTS)
    PARTITION BY LIST (run_id);
CREATE TABLE reconciliation_reconmatch_default PARTITION OF reconciliation_reconmatch_p DEFAULT;
INSERT INTO reconciliation_reconmatch_p SELECT * FROM reconciliation_reconmatch;
DROP TABLE reconciliation_reconmatch;
ALTER TABLE reconciliation_reconmatch_p RENAME TO reconciliation_reconmatch;
CREATE SEQUENCE reconciliation_reconmatch_id_seq OWNED BY reconciliation_reconmatch.id;
SELECT setval('reconciliation_reconmatch_id_seq', coalesce((SELECT max(id) FROM reconciliation_reconmatch), 0) + 1,
              false);
ALTER TABLE reconciliation_reconmatch ALTER COLUMN id SET DEFAULT nextval('reconciliation_reconmatch_id_seq');
ALTER TABLE reconciliation_reconmatch ADD CONSTRAINT reconciliation_reconmatch_pkey PRIMARY KEY (id, run_id);
CREATE INDEX reconmatch_run_outcome_idx ON reconciliation_reconmatch (run_id, outcome, id);
CREATE INDEX reconmatch_run_purchase_idx ON reconciliation_reconmatch (run_id, purchase_id)
    WHERE purchase_id IS NOT NULL;
CREATE INDEX reconmatch_run_document_idx ON reconciliation_reconmatch (run_id, document_id)
    WHERE document_id IS NOT NULL;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("reconciliation", "0003_rec_results_without_fk"),
    ]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=migrations.RunSQL.noop)]
