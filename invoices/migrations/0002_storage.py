from django.db import migrations


class Migration(migrations.Migration):
    """Leave room on each page so action updates can be HOT updates (performance.md)."""

    dependencies = [("invoices", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "ALTER TABLE invoices_supplierdocument SET (fillfactor = 85);",
            "ALTER TABLE invoices_supplierdocument RESET (fillfactor);",
        )
    ]
