"""The daily deadline digest: each member who can act gets the most urgent documents of the GSTINs they see."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ims_project.site import absolute_url
from tenancy.models import Membership
from tenancy.roles import Capability, can
from tenancy.scoping import scopes_disabled, tenant_scope

from . import selectors

DIGEST_ITEMS = 25


def send_all(*, today=None) -> int:
    """Send one email per responsible member with a non-empty queue. Returns the number of emails sent."""
    today = today or timezone.localdate()
    with scopes_disabled():
        members = list(Membership.objects.select_related("tenant", "user").order_by("tenant_id", "user_id"))
    sent = 0
    for m in members:
        if not can(m.role, Capability.ACT) or not m.user.email or not m.user.is_active:
            continue
        with tenant_scope(m.tenant):
            regs = list(selectors.registrations_for(tenant=m.tenant, user=m.user, membership=m))
            items = selectors.deadline_queue(
                tenant=m.tenant, registrations=regs, today=today, limit=DIGEST_ITEMS
            )
        if not items:
            continue
        queue_url = absolute_url(reverse("twob-deadlines", args=[m.tenant.slug]))
        body = render_to_string(
            "returns/digest.txt", {"tenant": m.tenant, "items": items, "today": today, "queue_url": queue_url}
        )
        send_mail(
            f"IMS deadlines · {m.tenant.name} · {len(items)} documents",
            body,
            settings.DEFAULT_FROM_EMAIL,
            [m.user.email],
        )
        sent += 1
    return sent
