"""Vacuum and analyze the churning queue table after a fixed 1,000 changes, whatever its size (docs/performance.md
§3.10): its rows are inserted and deleted within seconds, so the default "20 % of the table" never comes round while
dead rows pile up in the index the workers scan."""

from django.db import migrations

SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000"
)


class Migration(migrations.Migration):
    dependencies = [("returns", "0007_rebuild_lease")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE returns_deadlinedirty SET ({SETTINGS})",
            "ALTER TABLE returns_deadlinedirty RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
            "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)",
        ),
    ]
