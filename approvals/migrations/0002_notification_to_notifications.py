from django.db import migrations


class Migration(migrations.Migration):
    """Notification moves to the notifications app (notifications/0001 takes over the table); state only here."""

    dependencies = [("approvals", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Notification")]),
    ]
