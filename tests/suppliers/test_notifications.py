"""E-mail digests to suppliers and signed webhooks (delivered to a local HTTP server)."""

from __future__ import annotations

import json

from django.core import mail

from audit.models import AuditEvent
from audit.services import Actor
from suppliers import services, signing
from suppliers.models import DeliveryStatus, NotificationStatus, WebhookDelivery
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc, make_supplier

ADMIN = Actor.system("tests")


def _with_emails(tenant, gstin, name, emails):
    s = make_supplier(tenant, gstin, name)
    with tenant_scope(tenant):
        s.emails = emails
        s.save()
    return s


def test_each_supplier_gets_one_email_listing_its_rejected_and_pending_with_remark_documents(
    tenant_a, reg_a1
):
    _with_emails(tenant_a, SUPPLIER_1, "Sharma Textiles", ["gst@sharma.in"])
    rejected = make_doc(reg_a1, portal_action="R", portal_remarks="Goods not received", doc_number="INV/1")
    pending = make_doc(reg_a1, portal_action="P", portal_remarks="Rate differs", doc_number="INV/2")
    silent_pending = make_doc(reg_a1, portal_action="P", doc_number="INV/3")
    accepted = make_doc(reg_a1, portal_action="A", doc_number="INV/4")
    result = services.notify_suppliers(
        tenant=tenant_a, document_ids=[rejected.pk, pending.pk, silent_pending.pk, accepted.pk]
    )
    assert (result.sent, result.skipped, result.failed) == (1, 0, 0)
    (message,) = mail.outbox
    assert message.to == ["gst@sharma.in"]
    assert "Acme Traders" in message.subject
    assert "INV/1" in message.body
    assert "Goods not received" in message.body
    assert "Rate differs" in message.body
    assert "INV/3" not in message.body
    assert "INV/4" not in message.body
    assert "05-10-2025" in message.body
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="supplier.notified")
    assert event.metadata["status"] == "sent"
    assert sorted(event.metadata["documents"]) == sorted([rejected.pk, pending.pk])


def test_a_supplier_without_a_contact_is_recorded_as_skipped(tenant_a, reg_a1):
    make_supplier(tenant_a, SUPPLIER_2, "No Contact Ltd")
    doc = make_doc(reg_a1, supplier_gstin=SUPPLIER_2, portal_action="R")
    result = services.notify_suppliers(tenant=tenant_a, document_ids=[doc.pk])
    assert result.skipped == 1
    assert mail.outbox == []
    assert result.notifications[0].status == NotificationStatus.SKIPPED


def test_a_mail_failure_is_recorded_not_raised(tenant_a, reg_a1, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    _with_emails(tenant_a, SUPPLIER_1, "Sharma", ["gst@sharma.in"])
    doc = make_doc(reg_a1, portal_action="R")
    result = services.notify_suppliers(tenant=tenant_a, document_ids=[doc.pk])
    assert result.failed == 1
    assert result.notifications[0].error


def test_another_tenants_documents_are_never_mailed(tenant_a, tenant_b, reg_b1):
    _with_emails(tenant_b, SUPPLIER_1, "Sharma", ["gst@sharma.in"])
    foreign = make_doc(reg_b1, portal_action="R")
    result = services.notify_suppliers(tenant=tenant_a, document_ids=[foreign.pk])
    assert result.sent == 0
    assert mail.outbox == []


def test_webhook_delivery_is_signed_with_the_endpoint_secret(tenant_a, reg_a1, receiver):
    with tenant_scope(tenant_a):
        secret = services.create_webhook(tenant=tenant_a, actor=ADMIN, url=receiver.url).secret
    doc = make_doc(reg_a1, portal_action="R", portal_remarks="Duplicate")
    result = services.notify_suppliers(tenant=tenant_a, document_ids=[doc.pk])
    assert result.deliveries == 1
    with tenant_scope(tenant_a):
        delivery = WebhookDelivery.objects.get()
    assert services.deliver_webhook(delivery_id=delivery.pk) == DeliveryStatus.SUCCEEDED
    (request,) = receiver.requests
    assert signing.verify(secret, request["body"], request["headers"][signing.HEADER])
    assert not signing.verify("another-secret", request["body"], request["headers"][signing.HEADER])
    assert not signing.verify(secret, request["body"] + b" ", request["headers"][signing.HEADER])
    payload = json.loads(request["body"])
    assert payload["event"] == "supplier.documents_flagged"
    assert payload["tenant"] == "acme"
    assert payload["suppliers"][0]["documents"][0]["remarks"] == "Duplicate"
    assert request["headers"]["X-IMS-Event"] == "supplier.documents_flagged"
    with tenant_scope(tenant_a):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    assert services.deliver_webhook(delivery_id=delivery.pk) is None  # delivered once only


def test_failed_deliveries_are_retried_a_bounded_number_of_times(tenant_a, reg_a1, receiver, settings):
    settings.IMS_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.status = 500
    with tenant_scope(tenant_a):
        services.create_webhook(tenant=tenant_a, actor=ADMIN, url=receiver.url)
    services.notify_suppliers(tenant=tenant_a, document_ids=[make_doc(reg_a1, portal_action="R").pk])
    with tenant_scope(tenant_a):
        delivery = WebhookDelivery.objects.get()
    statuses = [services.deliver_webhook(delivery_id=delivery.pk) for _ in range(4)]
    assert statuses == ["pending", "pending", "failed", None]
    assert len(receiver.requests) == 3
    with tenant_scope(tenant_a):
        delivery.refresh_from_db()
    assert delivery.response_code == 500
    assert delivery.last_error.startswith("HTTP 500")


def test_an_unreachable_endpoint_is_recorded_with_the_error(tenant_a, reg_a1, receiver):
    url = receiver.url
    receiver.server.shutdown()
    receiver.server.server_close()
    with tenant_scope(tenant_a):
        services.create_webhook(tenant=tenant_a, actor=ADMIN, url=url)
    services.notify_suppliers(tenant=tenant_a, document_ids=[make_doc(reg_a1, portal_action="R").pk])
    with tenant_scope(tenant_a):
        delivery = WebhookDelivery.objects.get()
    assert services.deliver_webhook(delivery_id=delivery.pk, timeout=2) == "pending"
    with tenant_scope(tenant_a):
        delivery.refresh_from_db()
    assert delivery.response_code is None
    assert "ConnectError" in delivery.last_error


def test_webhook_pages_are_for_admins_and_validate_the_url(client_for, alice, pat, tenant_a):
    assert client_for(pat).get("/t/acme/suppliers/webhooks/").status_code == 403
    client = client_for(alice)
    response = client.post(
        "/t/acme/suppliers/webhooks/",
        {"url": "ftp://example.com/x", "events": ["supplier.documents_flagged"]},
    )
    assert response.status_code == 400
    assert "http:// or https://" in response.content.decode()
    response = client.post(
        "/t/acme/suppliers/webhooks/",
        {"url": "https://hooks.example.com/ims", "events": ["supplier.documents_flagged"]},
        follow=True,
    )
    assert response.status_code == 200
    assert "https://hooks.example.com/ims" in response.content.decode()
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="webhook.created").count() == 1


def test_notifications_page_lists_the_emails_sent(client_for, alice, tenant_a, reg_a1):
    _with_emails(tenant_a, SUPPLIER_1, "Sharma", ["gst@sharma.in"])
    services.notify_suppliers(tenant=tenant_a, document_ids=[make_doc(reg_a1, portal_action="R").pk])
    page = client_for(alice).get("/t/acme/suppliers/notifications/").content.decode()
    assert "gst@sharma.in" in page
    assert "Sent" in page
