"""The pending local actions as the IMS Offline Tool upload JSON: SAVE and RESET shapes as in the samples."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from gst_sync.files.formats import dumps
from gst_sync.files.imports import import_ims_files, offline_upload
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope

from .conftest import ACTOR, RECIPIENT, ims_sample, sample, upload


@pytest.fixture
def pending(acme):
    """The IMS sample imported, then local actions set directly (as the action screens would)."""
    tenant, reg = acme
    with tenant_scope(tenant):
        import_ims_files(tenant=tenant, actor=ACTOR, registration=reg, files=[upload(ims_sample())])
        docs = SupplierDocument.objects.filter(registration=reg)
        docs.filter(doc_number__in=["GJ/1029", "DN-KA-0031", "ECO/99812"]).update(local_action="A")
        docs.filter(doc_number="KA-7781").update(
            portal_action="N", local_action="R", local_remarks="Goods not received; PO closed"
        )
        docs.filter(doc_number="KA-7790").update(
            portal_action="N", local_action="P", local_remarks="Awaiting GRN"
        )
        docs.filter(doc_number="CN/25-26/007").update(
            local_action="A",
            local_itc_red_req="Y",
            local_decl_igst=Decimal("0"),
            local_decl_cgst=Decimal("450.50"),
            local_decl_sgst=Decimal("450.50"),
            local_decl_cess=Decimal("0"),
            local_remarks="Half availed",
            taxable_value=Decimal("-10000.00"),
            cgst=Decimal("-900.00"),
            sgst=Decimal("-900.00"),
            doc_value=Decimal("-11800.00"),
        )
        docs.filter(doc_number="INV/25-26/0142").update(local_action="N")  # back to No action: RESET
        docs.filter(doc_number="INV/25-26/0099").update(local_action="N")  # already N on the portal: nothing
    return tenant, reg


def bodies(acme):
    tenant, reg = acme
    with tenant_scope(tenant):
        return (
            json.loads(dumps(offline_upload(tenant=tenant, registration=reg, kind="save"))),
            json.loads(dumps(offline_upload(tenant=tenant, registration=reg, kind="reset"))),
        )


def test_save_json_has_the_shape_and_records_of_the_save_sample(pending):
    save, _ = bodies(pending)
    expected = sample("ims_save_actions_request.json")
    assert save["action"] == "SAVE"
    assert save["data"]["rtin"] == RECIPIENT
    assert save["data"]["reqtyp"] == "SAVE"
    assert list(save["data"]["invdata"]) == ["b2b", "b2bcn", "b2bdn", "ecom"]
    for section in ("b2b", "b2bdn", "ecom"):
        assert save["data"]["invdata"][section] == expected["data"]["invdata"][section]


def test_save_record_carries_the_declaration_and_remarks_with_positive_amounts(pending):
    save, _ = bodies(pending)
    [cn] = save["data"]["invdata"]["b2bcn"]
    assert cn == {
        "stin": "27AAFCX5678M1ZF",
        "nt_num": "CN/25-26/007",
        "nt_dt": "20-10-2025",
        "inv_typ": "R",
        "srcform": "R1",
        "rtnprd": "102025",
        "val": 11800,
        "pos": "27",
        "txval": 10000,
        "iamt": 0,
        "camt": 900,
        "samt": 900,
        "cess": 0,
        "action": "A",
        "prev_status": "A",
        "itcRedReq": "Y",
        "declIgst": 0,
        "declCgst": 450.5,
        "declSgst": 450.5,
        "declCess": 0,
        "remarks": "Half availed",
    }


def test_reset_json_is_the_reset_sample_for_a_row_going_back_to_no_action(pending):
    _, reset = bodies(pending)
    assert reset == sample("ims_reset_request.json")
    assert "action" not in reset["data"]["invdata"]["b2b"][0]


def test_vanished_documents_and_rows_without_local_action_are_left_out(pending):
    tenant, reg = pending
    with tenant_scope(tenant):
        SupplierDocument.objects.filter(doc_number="ECO/99812").update(vanished_at=timezone.now())
    save, reset = bodies(pending)
    numbers = {r.get("inum") or r.get("nt_num") for recs in save["data"]["invdata"].values() for r in recs}
    assert numbers == {"GJ/1029", "KA-7781", "KA-7790", "CN/25-26/007", "DN-KA-0031"}
    assert [r["inum"] for r in reset["data"]["invdata"]["b2b"]] == ["INV/25-26/0142"]


def test_amendment_records_repeat_the_original_number_and_date(acme):
    tenant, reg = acme
    with tenant_scope(tenant):
        import_ims_files(tenant=tenant, actor=ACTOR, registration=reg, files=[upload(ims_sample())])
        SupplierDocument.objects.filter(section="b2ba").update(local_action="R")
        body = offline_upload(tenant=tenant, registration=reg, kind="save")
    [rec] = body["data"]["invdata"]["b2ba"]
    assert (rec["oinum"], rec["oidt"], rec["inum"], rec["action"], rec["prev_status"]) == (
        "INV/25-26/0099",
        "25-09-2025",
        "INV/25-26/0099",
        "R",
        "N",
    )
