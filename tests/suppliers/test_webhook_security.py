"""Webhooks may not reach internal addresses (checked when saved and at each delivery, no redirects), and their
signing secrets are sealed at rest, shown once, and rotatable — through the service, the pages and the API."""

from __future__ import annotations

import ipaddress
import json

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from suppliers import netguard, services, signing
from suppliers.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.tokens import api_token

ADMIN = Actor.system("tests")
PUBLIC = "93.184.216.34"  # a public address (never contacted: only checked)
UNSPECIFIED = "0.0.0.0"  # noqa: S104 - an address to refuse, not one to bind


@pytest.mark.parametrize(
    ("address", "private_ok", "refused_as"),
    [
        ("127.0.0.1", False, "loopback"),
        ("::1", False, "loopback"),
        ("10.1.2.3", False, "private"),
        ("172.16.0.9", False, "private"),
        ("192.168.1.1", False, "private"),
        ("fd00::1", False, "private"),
        ("100.64.0.1", False, "private"),
        ("169.254.169.254", False, "link-local"),
        ("fe80::1", False, "link-local"),
        ("224.0.0.1", False, "multicast"),
        (UNSPECIFIED, False, "unspecified"),
        ("240.0.0.1", False, "reserved"),
        ("::ffff:127.0.0.1", False, "loopback"),
        ("2002:7f00:1::", False, "loopback"),
        ("169.254.169.254", True, "link-local"),
        ("224.0.0.1", True, "multicast"),
        (UNSPECIFIED, True, "unspecified"),
        ("127.0.0.1", True, None),
        ("10.1.2.3", True, None),
        (PUBLIC, False, None),
        ("2606:4700::1111", False, None),
    ],
)
def test_which_addresses_a_webhook_may_reach(address, private_ok, refused_as):
    reason = netguard.refusal(ipaddress.ip_address(address), allow_private=private_ok)
    assert (reason is None) if refused_as is None else (refused_as in reason)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",  # 127.0.0.1 written as one number
    ],
)
def test_internal_urls_are_refused_when_saved(tenant_a, url):
    with tenant_scope(tenant_a), pytest.raises(services.SupplierError) as exc:
        services.create_webhook(tenant=tenant_a, actor=ADMIN, url=url)
    assert exc.value.field == "url"
    assert "public addresses" in exc.value.message
    with tenant_scope(tenant_a):
        assert not WebhookEndpoint.objects.exists()


def test_credentials_in_the_url_are_refused_and_a_public_address_is_accepted(tenant_a):
    with tenant_scope(tenant_a):
        with pytest.raises(services.SupplierError):
            services.create_webhook(tenant=tenant_a, actor=ADMIN, url=f"https://user:pw@{PUBLIC}/hook")
        made = services.create_webhook(tenant=tenant_a, actor=ADMIN, url=f"https://{PUBLIC}/hook")
    assert made.endpoint.url == f"https://{PUBLIC}/hook"


def test_an_on_premise_deployment_may_allow_its_private_network_but_never_link_local(tenant_a, settings):
    settings.IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK = True
    with tenant_scope(tenant_a):
        assert services.create_webhook(tenant=tenant_a, actor=ADMIN, url="http://10.0.0.5/hook").endpoint.pk
        with pytest.raises(services.SupplierError):
            services.create_webhook(tenant=tenant_a, actor=ADMIN, url="http://169.254.169.254/")


def _flagged_delivery(tenant, reg):
    services.notify_suppliers(tenant=tenant, document_ids=[make_doc(reg, portal_action="R").pk])
    with tenant_scope(tenant):
        return WebhookDelivery.objects.get()


def test_delivery_rechecks_the_address_and_sends_nothing_to_an_internal_one(
    tenant_a, reg_a1, receiver, settings
):
    with tenant_scope(tenant_a):
        services.create_webhook(tenant=tenant_a, actor=ADMIN, url=receiver.url)  # allowed while private is on
    delivery = _flagged_delivery(tenant_a, reg_a1)
    settings.IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK = False
    assert services.deliver_webhook(delivery_id=delivery.pk) == DeliveryStatus.PENDING
    assert receiver.requests == []
    with tenant_scope(tenant_a):
        delivery.refresh_from_db()
    assert "loopback" in delivery.last_error
    assert delivery.response_code is None


def test_a_name_that_resolves_elsewhere_at_delivery_is_refused(
    tenant_a, reg_a1, receiver, settings, monkeypatch
):
    """DNS rebinding: public when saved, loopback when sent. The connection itself checks what it connects to."""
    port = receiver.server.server_address[1]
    settings.IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK = False
    answers = iter([[ipaddress.ip_address(PUBLIC)], [ipaddress.ip_address("127.0.0.1")]])
    monkeypatch.setattr(netguard, "resolve", lambda host, port: next(answers))
    with tenant_scope(tenant_a):
        services.create_webhook(tenant=tenant_a, actor=ADMIN, url=f"http://hooks.rebind.test:{port}/hook")
    delivery = _flagged_delivery(tenant_a, reg_a1)
    assert services.deliver_webhook(delivery_id=delivery.pk) == DeliveryStatus.PENDING
    assert receiver.requests == []
    with tenant_scope(tenant_a):
        delivery.refresh_from_db()
    assert "127.0.0.1" in delivery.last_error
    assert "loopback" in delivery.last_error


def test_redirects_are_not_followed(tenant_a, reg_a1, receiver):
    receiver.status, receiver.location = 302, "http://169.254.169.254/latest/meta-data/"
    with tenant_scope(tenant_a):
        services.create_webhook(tenant=tenant_a, actor=ADMIN, url=receiver.url)
    delivery = _flagged_delivery(tenant_a, reg_a1)
    assert services.deliver_webhook(delivery_id=delivery.pk) == DeliveryStatus.PENDING
    assert len(receiver.requests) == 1
    with tenant_scope(tenant_a):
        delivery.refresh_from_db()
    assert delivery.response_code == 302
    assert "redirects are not followed" in delivery.last_error


def test_the_secret_is_sealed_at_rest_and_opens_only_with_the_key(tenant_a, reg_a1, receiver, settings):
    with tenant_scope(tenant_a):
        made = services.create_webhook(tenant=tenant_a, actor=ADMIN, url=receiver.url)
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM suppliers_webhookendpoint")
        row = " ".join(str(v) for v in cur.fetchone())
    assert made.secret not in row
    assert made.secret[-4:] == made.endpoint.secret_hint
    with tenant_scope(tenant_a):
        assert made.secret not in json.dumps(list(AuditEvent.objects.values_list("changes", "metadata")))
    delivery = _flagged_delivery(tenant_a, reg_a1)
    settings.SECRET_KEY = "another-deployment-key-" + "x" * 40  # the derived sealing key differs
    assert services.deliver_webhook(delivery_id=delivery.pk) == DeliveryStatus.PENDING
    assert receiver.requests == []
    with tenant_scope(tenant_a):
        delivery.refresh_from_db()
    assert "cannot be decrypted" in delivery.last_error


def test_rotating_the_secret_signs_later_deliveries_with_the_new_one(tenant_a, reg_a1, receiver):
    with tenant_scope(tenant_a):
        old = services.create_webhook(tenant=tenant_a, actor=ADMIN, url=receiver.url)
        new = services.rotate_webhook_secret(tenant=tenant_a, actor=ADMIN, endpoint=old.endpoint)
        event = AuditEvent.objects.get(action="webhook.secret_rotated")
    assert new.secret != old.secret
    assert new.endpoint.secret_rotated_at is not None
    assert event.changes == {"secret_hint": [old.secret[-4:], new.secret[-4:]]}
    delivery = _flagged_delivery(tenant_a, reg_a1)
    assert services.deliver_webhook(delivery_id=delivery.pk) == DeliveryStatus.SUCCEEDED
    (request,) = receiver.requests
    assert signing.verify(new.secret, request["body"], request["headers"][signing.HEADER])
    assert not signing.verify(old.secret, request["body"], request["headers"][signing.HEADER])


def test_the_page_shows_the_secret_once_and_rotates_it(client_for, alice, tenant_a, settings):
    settings.IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK = True
    client = client_for(alice)
    refused = client.post(
        "/t/acme/suppliers/webhooks/",
        {"url": "http://169.254.169.254/", "events": ["supplier.documents_flagged"]},
    )
    assert refused.status_code == 400
    assert "link-local" in refused.content.decode()
    first = client.post(
        "/t/acme/suppliers/webhooks/",
        {"url": "http://10.0.0.5/hook", "events": ["supplier.documents_flagged"]},
        follow=True,
    )
    secret = first.context["new_secret"]
    assert secret.startswith("whsec_")
    assert secret in first.content.decode()
    assert "no-store" in first["Cache-Control"]  # the data pages add "private" (ims_project.middleware)
    with tenant_scope(tenant_a):
        endpoint = WebhookEndpoint.objects.get()
    again = client.get(f"/t/acme/suppliers/webhooks/{endpoint.pk}/").content.decode()
    assert secret not in again
    assert f"…{secret[-4:]}" in again
    rotated = client.post(f"/t/acme/suppliers/webhooks/{endpoint.pk}/rotate/", follow=True)
    assert rotated.context["new_secret"] not in (None, secret)
    assert client.get(f"/t/acme/suppliers/webhooks/{endpoint.pk}/").context["new_secret"] is None


def test_webhook_api_returns_the_secret_once_refuses_internal_urls_and_rotates(client, alice, pat, tenant_a):
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(alice).key}"}
    base = "/api/v1/t/acme/webhooks/"
    bad = client.post(base, {"url": "http://127.0.0.1:9/hook"}, content_type="application/json", **auth)
    assert bad.status_code == 400
    assert bad.json()["field"] == "url"
    made = client.post(base, {"url": f"https://{PUBLIC}/hook"}, content_type="application/json", **auth)
    assert made.status_code == 201
    assert made.json()["secret"].startswith("whsec_")
    pk = made.json()["webhook"]["id"]
    listing = client.get(base, **auth)
    assert made.json()["secret"] not in listing.content.decode()
    assert listing.json()["results"][0]["secret_hint"] == made.json()["secret"][-4:]
    rotated = client.post(f"{base}{pk}/rotate-secret/", **auth)
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != made.json()["secret"]
    off = client.patch(
        f"{base}{pk}/", {"active": False, "url": "http://10.9.9.9/"}, content_type="application/json", **auth
    )
    assert off.status_code == 400
    assert off.json()["field"] == "url"
    off = client.patch(f"{base}{pk}/", {"active": False}, content_type="application/json", **auth)
    assert off.status_code == 200
    assert off.json()["active"] is False
    detail = client.get(f"{base}{pk}/", **auth).json()
    assert detail["webhook"]["active"] is False
    assert detail["deliveries"] == []
    preparer = {"HTTP_AUTHORIZATION": f"Token {api_token(pat).key}"}
    assert client.get(base, **preparer).status_code == 403
    assert client.post(f"{base}{pk}/rotate-secret/", **preparer).status_code == 403
    assert client.delete(f"{base}{pk}/", **auth).status_code == 204


def test_a_new_sealing_key_put_first_reseals_every_secret(tenant_a, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from suppliers import sealing

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.IMS_WEBHOOK_SECRET_KEYS = old_key
    with tenant_scope(tenant_a):
        made = services.create_webhook(tenant=tenant_a, actor=ADMIN, url=f"https://{PUBLIC}/hook")
    settings.IMS_WEBHOOK_SECRET_KEYS = f"{new_key},{old_key}"
    call_command("reseal_webhook_secrets")
    settings.IMS_WEBHOOK_SECRET_KEYS = new_key  # the old key retired
    with tenant_scope(tenant_a):
        blob = WebhookEndpoint.objects.get().sealed_secret
    assert sealing.unseal(blob) == made.secret
