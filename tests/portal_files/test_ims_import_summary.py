"""An IMS JSON import (complete sections: missing documents vanish) keeps the dashboard's maintained summary equal
to a full scan of the documents (docs/decisions/0010-maintained-document-summary.md)."""

from __future__ import annotations

import copy

from gst_sync.files.imports import import_ims_files
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope
from tests.summary_check import assert_summary_is_a_scan

from .conftest import ACTOR, ims_sample, upload


def test_an_import_and_a_reimport_with_a_document_gone_keep_the_summary(acme):
    tenant, reg = acme
    sample = ims_sample()
    with tenant_scope(tenant):
        import_ims_files(tenant=tenant, actor=ACTOR, registration=reg, files=[upload(sample, "ims.json")])
    assert_summary_is_a_scan(tenant)

    fewer = copy.deepcopy(sample)
    fewer["b2b"].pop()  # one B2B document is no longer in the (complete) file: it vanishes
    with tenant_scope(tenant):
        import_ims_files(
            tenant=tenant,
            actor=ACTOR,
            registration=reg,
            files=[upload(fewer, "ims.json")],
            confirm_removals=True,
        )
        assert SupplierDocument.objects.filter(tenant=tenant, vanished_at__isnull=False).count() == 1
    assert_summary_is_a_scan(tenant)
