"""Acme holds the samples' recipient GSTIN (27AAICZ1234Q1ZQ); Bharat is another tenant."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from audit.services import Actor
from gst_sync.models import Gstr2bDocument, Gstr2bStatement
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories

FIXTURES = Path(__file__).parent / "fixtures"
RECIPIENT = "27AAICZ1234Q1ZQ"
ACTOR = Actor.system("tests")


def sample(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def ims_sample() -> dict:
    return sample("ims_get_invoices_response.json")


def twob_sample() -> dict:
    return sample("gstr2b_get2b_response.json")


def upload(obj, name: str = "file.json") -> SimpleUploadedFile:
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return SimpleUploadedFile(name, data, content_type="application/json")


def snapshot(tenant) -> tuple:
    """Everything an import could write, to show that a refused file wrote nothing."""
    with tenant_scope(tenant):
        docs = sorted(
            SupplierDocument.objects.values_list(
                "id", "content_hash", "vanished_at", "twob_period", "supplier_filing_date"
            )
        )
        return (
            docs,
            Gstr2bStatement.objects.count(),
            Gstr2bDocument.objects.count(),
            AuditEvent.objects.filter(tenant=tenant).count(),
        )


@pytest.fixture
def acme(db):
    tenant = factories.make_tenant("Acme Files", "acme-files")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme Files"
        )
    return tenant, reg


@pytest.fixture
def owner(acme):
    user = factories.make_user("files-owner")
    factories.make_member(acme[0], user, "owner")
    return user


@pytest.fixture
def viewer(acme):
    user = factories.make_user("files-viewer")
    factories.make_member(acme[0], user, "viewer", gstins=[acme[1]])
    return user


@pytest.fixture
def other_reg(db):
    tenant = factories.make_tenant("Other Files", "other-files")
    return factories.make_registration(tenant, state="24", n=77)


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return _login


def docs_of(tenant, **filters):
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.filter(**filters)}


def without(obj: dict, *keys) -> dict:
    obj = copy.deepcopy(obj)
    for key in keys:
        obj.pop(key, None)
    return obj
