from __future__ import annotations

from django.db.models import QuerySet

from tenancy.models import Tenant

from .models import Notification


def notifications_for(*, tenant: Tenant, user) -> QuerySet[Notification]:
    return Notification.objects.filter(tenant=tenant, user=user).order_by("-created_at", "-id")


def unread_count(*, tenant: Tenant, user) -> int:
    return Notification.objects.filter(tenant=tenant, user=user, read_at__isnull=True).count()
