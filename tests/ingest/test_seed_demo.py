"""``manage.py seed_demo``: the demo organisation with every role and section, and rerunnable."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from demo.services import DEMO_PASSWORD
from invoices.models import SupplierDocument
from tenancy.models import Membership, Tenant
from tenancy.scoping import tenant_scope
from tenancy.selectors import visible_registrations

pytestmark = pytest.mark.django_db


def run():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_demo_seed_has_every_section_and_every_role_and_says_how_to_log_in(client):
    output = run()

    tenant = Tenant.objects.get(slug="demo")
    assert tenant.name == "Demo Industries"
    assert "http://127.0.0.1:8000/" in output
    assert DEMO_PASSWORD in output
    assert "owner@demo.in" in output
    roles = dict(Membership.objects.filter(tenant=tenant).values_list("user__username", "role"))
    assert sorted(roles.values()) == ["admin", "approver", "owner", "preparer", "viewer"]
    response = client.post(reverse("login"), {"username": "viewer@demo.in", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    with tenant_scope(tenant):
        regs = visible_registrations(
            tenant=tenant, user=Membership.objects.get(user__username="owner@demo.in").user
        )
        assert regs.count() == 3
        assert {r.state_code for r in regs} == {"27", "29"}
        preparer = Membership.objects.get(tenant=tenant, role="preparer").user
        assert visible_registrations(tenant=tenant, user=preparer).count() == 1
        documents = SupplierDocument.objects.all()
        assert 4500 <= documents.count() <= 5500
        assert set(documents.values_list("section", flat=True)) == {
            "b2b",
            "b2ba",
            "b2bcn",
            "b2bcna",
            "b2bdn",
            "b2bdna",
            "ecom",
            "ecoma",
            # Import of Goods and ISD tabs (docs/rules/sections.md §4)
            "impg",
            "impga",
            "impgsez",
            "impgseza",
            "isd",
            "isda",
            "isdcn",
        }
        assert set(documents.values_list("portal_action", flat=True)) == {"A", "R", "P", "N"}
        assert documents.filter(local_action__isnull=False).exists()
        assert documents.filter(is_amendment=True, original__isnull=False).exists()
        assert documents.values("supplier_gstin").distinct().count() >= 100


def test_running_the_demo_seed_twice_creates_nothing_new():
    run()
    tenant = Tenant.objects.get(slug="demo")
    with tenant_scope(tenant):
        docs, seq = SupplierDocument.objects.count(), AuditEvent.objects.order_by("-seq").first().seq

    output = run()

    assert "0 documents created" in output
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Membership.objects.filter(tenant=tenant).count() == 5
    with tenant_scope(tenant):
        assert SupplierDocument.objects.count() == docs
        assert AuditEvent.objects.order_by("-seq").first().seq == seq
