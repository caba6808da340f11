import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Gstr3bFiling joins the returns it describes: the model moves from actions (its rows stay; the table is
    renamed from actions_gstr3bfiling)."""

    dependencies = [
        ("returns", "0002_preview_rebuild"),
        ("actions", "0002_gstr3bfiling_to_returns"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE actions_gstr3bfiling RENAME TO returns_gstr3bfiling",
                    "ALTER TABLE returns_gstr3bfiling RENAME TO actions_gstr3bfiling",
                )
            ],
            state_operations=[
                migrations.CreateModel(
                    name="Gstr3bFiling",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("period", models.DateField()),
                        ("filed_on", models.DateField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "registration",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="tenancy.registration",
                            ),
                        ),
                        (
                            "tenant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenancy.tenant"
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["registration", "-period"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("tenant", "registration", "period"), name="gstr3bfiling_uniq"
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
