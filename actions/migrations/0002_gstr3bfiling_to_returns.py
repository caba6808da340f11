from django.db import migrations


class Migration(migrations.Migration):
    """Gstr3bFiling moves to the returns app (returns/0003 takes over the table); only Django's state changes here."""

    dependencies = [("actions", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Gstr3bFiling")]),
    ]
