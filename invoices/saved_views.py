"""Saved views of the documents list: a named filter (the list's query string) of one member, shown in the
navigation; shared ones are shown to the whole team. A saved view stores filters only: whoever opens it sees the
documents of the GSTINs they may see. Imported by ``invoices.models`` (the app's model registry)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_scopes import ScopedManager

MAX_VIEWS = 50  # per member: the navigation lists them all


class SavedView(models.Model):
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    query = models.CharField(
        max_length=2000, blank=True, help_text="The list's query string, without the page"
    )
    shared = models.BooleanField(default=False, help_text="Shown to every member of the organisation")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        app_label = "invoices"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "name"], name="savedview_user_name_uniq"),
        ]
        indexes = [
            models.Index(fields=["tenant", "name"], name="savedview_shared_idx", condition=Q(shared=True)),
        ]

    def __str__(self) -> str:
        return self.name
