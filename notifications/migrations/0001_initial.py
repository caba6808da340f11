import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Notification moves here from approvals: its rows stay, the table is renamed from approvals_notification."""

    initial = True

    dependencies = [
        ("approvals", "0002_notification_to_notifications"),
        ("tenancy", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE approvals_notification RENAME TO notifications_notification",
                    "ALTER TABLE notifications_notification RENAME TO approvals_notification",
                )
            ],
            state_operations=[
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("kind", models.CharField(max_length=40)),
                        ("text", models.CharField(max_length=300)),
                        ("url", models.CharField(blank=True, max_length=300)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("read_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "tenant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenancy.tenant"
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["tenant", "user", "-created_at"], name="notification_user_idx"),
                            models.Index(
                                condition=models.Q(("read_at__isnull", True)),
                                fields=["tenant", "user"],
                                name="notification_unread_idx",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
