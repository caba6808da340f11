"""Webhook secrets sealed at rest: each stored secret is sealed with the configured key, then the plain column goes."""

from django.db import migrations, models


def seal_existing(apps, schema_editor):
    from suppliers.sealing import seal

    Endpoint = apps.get_model("suppliers", "WebhookEndpoint")
    for endpoint in Endpoint.objects.all().only("pk", "secret"):
        Endpoint.objects.filter(pk=endpoint.pk).update(sealed_secret=seal(endpoint.secret),
                                                        secret_hint=endpoint.secret[-4:])


def unseal_back(apps, schema_editor):
    from suppliers.sealing import unseal

    Endpoint = apps.get_model("suppliers", "WebhookEndpoint")
    for endpoint in Endpoint.objects.all().only("pk", "sealed_secret"):
        Endpoint.objects.filter(pk=endpoint.pk).update(secret=unseal(endpoint.sealed_secret))


class Migration(migrations.Migration):

    dependencies = [
        ("suppliers", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="webhookendpoint", name="sealed_secret", field=models.TextField(default=""),
                            preserve_default=False),
        migrations.AddField(model_name="webhookendpoint", name="secret_hint",
                            field=models.CharField(blank=True, max_length=8)),
        migrations.AddField(model_name="webhookendpoint", name="secret_rotated_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.RunPython(seal_existing, unseal_back, elidable=False),
        # A default first, so that unapplying the removal can re-add the column to existing rows.
        migrations.AlterField(model_name="webhookendpoint", name="secret",
                              field=models.CharField(default="", max_length=100)),
        migrations.RemoveField(model_name="webhookendpoint", name="secret"),
    ]
