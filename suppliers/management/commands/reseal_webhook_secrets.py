"""Seal every webhook secret again with the first key of IMS_WEBHOOK_SECRET_KEYS (after putting a new key first).
Secrets no configured key opens are reported, not changed; nothing secret is printed."""

from django.core.management.base import BaseCommand
from django.db import transaction

from suppliers import sealing
from suppliers.models import WebhookEndpoint
from tenancy.scoping import scopes_disabled


class Command(BaseCommand):
    help = "Re-seal webhook signing secrets with the current first key (after a key rotation)."

    def handle(self, *args, **options):
        resealed, unreadable = 0, []
        with scopes_disabled(), transaction.atomic():
            for endpoint in WebhookEndpoint.objects.select_for_update().only("pk", "sealed_secret"):
                try:
                    blob = sealing.reseal(endpoint.sealed_secret)
                except Exception:  # noqa: BLE001 - cryptography raises InvalidToken; report the endpoint
                    unreadable.append(endpoint.pk)
                    continue
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(sealed_secret=blob)
                resealed += 1
        self.stdout.write(f"Re-sealed {resealed} webhook secret(s).")
        if unreadable:
            self.stderr.write(f"No configured key opens the secrets of webhook(s) {unreadable}: rotate them.")
