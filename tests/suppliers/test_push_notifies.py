"""End to end over the sandbox portal: a push that saves a rejection e-mails the supplier (the push.py hook)."""

from __future__ import annotations

from django.core import mail

from audit.services import Actor
from gst_sync import push, services
from invoices.models import Supplier, SupplierDocument
from suppliers.models import SupplierNotification
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync.conftest import (  # noqa: F401 - fixtures
    OTP,
    RECIPIENT,
    USERNAME,
    adapter,
    connect_gstin,
    doc,
    make_config,
    portal,
    sandbox,
    sandbox_url,
)

ACTOR = Actor.system("tests")
SUPPLIER = "29AAJFY9012N1ZE"


def test_a_push_that_saves_a_rejection_emails_the_supplier_once(db, portal, sandbox):  # noqa: F811
    tenant = factories.make_tenant("Acme Mail", "acme-mail")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme"
        )
        connect_gstin(tenant, reg, portal, ACTOR)
    sandbox.seed(b2b=[doc("B-1"), doc("B-2"), doc("B-3")])
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    services.run_sync(run.pk, adapter=portal)
    with tenant_scope(tenant):
        Supplier.objects.filter(gstin=SUPPLIER).update(emails=["gst@supplier.in"])
        SupplierDocument.objects.filter(doc_number="B-1").update(
            local_action="R", local_remarks="Not received"
        )
        SupplierDocument.objects.filter(doc_number="B-2").update(local_action="A")
        (batch,) = push.queue_push(tenant=tenant, actor=ACTOR, registration=reg)
    push.run_push(batch.pk, adapter=portal)
    (message,) = mail.outbox
    assert message.to == ["gst@supplier.in"]
    assert "B-1" in message.body
    assert "Not received" in message.body
    assert "B-2" not in message.body
    with tenant_scope(tenant):
        assert SupplierNotification.objects.get().document_count == 1
