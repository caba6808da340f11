from django.db import migrations


class Migration(migrations.Migration):
    """Leave room on each page so action updates can be HOT updates (docs/decisions/0001-fillfactor-50-hot-updates.md)."""

    dependencies = [("invoices", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "ALTER TABLE invoices_supplierdocument SET (fillfactor = 85);",
            "ALTER TABLE invoices_supplierdocument RESET (fillfactor);",
        )
    ]
