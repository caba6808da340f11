"""In-app notifications to the users of a tenant, with an e-mail copy after the transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.utils import timezone

from ims_project.site import absolute_url
from tenancy.models import Tenant

from .models import Notification

log = logging.getLogger(__name__)


def notify(
    *, tenant: Tenant, users: Iterable, kind: str, text: str, url: str = "", email_body: str = ""
) -> int:
    """An in-app notification to each of ``users`` and, after the transaction commits, an email to those with an
    address (failures are logged, never raised). Returns how many were notified."""
    users = list(users)
    if not users:
        return 0
    Notification.objects.bulk_create(
        [Notification(tenant=tenant, user=u, kind=kind, text=text[:300], url=url) for u in users]
    )
    messages = [
        (
            f"[IMS] {text}"[:200],
            f"{email_body or text}\n\n{absolute_url(url)}".strip(),
            settings.DEFAULT_FROM_EMAIL,
            [u.email],
        )
        for u in users
        if u.email
    ]
    if messages:

        def send():
            try:
                send_mass_mail(messages, fail_silently=False)
            except Exception:  # noqa: BLE001 - mail is best effort; the in-app notification stands
                log.exception("notification email failed")

        transaction.on_commit(send)
    return len(users)


def settle(*, tenant: Tenant, kind: str, url: str, text: str) -> int:
    """The unread notifications of ``kind`` about ``url`` no longer call for anything (e.g. a batch another approver
    decided): they are marked read and say ``text`` instead. Returns how many changed."""
    return Notification.objects.filter(tenant=tenant, kind=kind, url=url, read_at__isnull=True).update(
        read_at=timezone.now(), text=text[:300]
    )


def mark_read(*, tenant: Tenant, user, ids: list[int] | None = None) -> int:
    """Mark ``user``'s notifications (``ids``, or all) read; returns how many changed. Not audited: personal state."""
    qs = Notification.objects.filter(tenant=tenant, user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
