"""Store the portal's ``ItcAvailabilityCheck`` flag (docs/rules/portal-api.md §2.1). A nullable column without a
default: a catalogue change only, no table rewrite; no index (docs/decisions/0001-fillfactor-50-hot-updates.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('invoices', '0006_blk_action_hot'),
    ]

    operations = [
        migrations.AddField(
            model_name='supplierdocument',
            name='itc_availability_check',
            field=models.CharField(blank=True, max_length=20, null=True),
        ),
    ]
