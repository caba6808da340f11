"""The IMS snapshot of tests/returns/fixtures yields exactly the totals of the GSTR-2B sample there (docs/rules/gstr2b.md)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from gst_sync.files.imports import import_gstr2b_files
from invoices.services.ingest import ingest_documents
from returns import services
from returns.twob import flatten_itcsumm
from tenancy.scoping import tenant_scope
from tests import factories

FIXTURES = Path(__file__).parent / "fixtures"
RECIPIENT = "27AAICZ1234Q1ZQ"
OCT = dt.date(2025, 10, 1)


def load(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def sample(tenant_a):
    with tenant_scope(tenant_a):
        from tenancy import services as tenancy_services

        reg = tenancy_services.add_registration(
            tenant=tenant_a, actor=factories.SYSTEM, gstin=RECIPIENT, legal_name="Zenith Industries"
        )
        result = ingest_documents(
            tenant=tenant_a,
            registration=reg,
            records=load("ims_get_invoices_response.json"),
            actor=factories.SYSTEM,
            source="ims_json",
        )
        assert not result.errors
    return reg


def _money(tree):
    return {k: Decimal(str(v)) for k, v in flatten_itcsumm(tree).items() if Decimal(str(v))}


def _cp_totals(cpsumm):
    return {
        (section, row["ctin"], row.get("nttyp", "")): (
            row["ttldocs"],
            *(Decimal(str(row[h])) for h in ("txval", "igst", "cgst", "sgst", "cess")),
        )
        for section, rows in cpsumm.items()
        for row in rows
    }


def test_preview_of_the_ims_sample_has_exactly_the_totals_of_the_2b_sample(tenant_a, sample):
    portal = load("gstr2b_get2b_response.json")["data"]
    with tenant_scope(tenant_a):
        snap = services.build_preview(
            tenant=tenant_a, actor=factories.SYSTEM, registration=sample, period=OCT
        )
    assert _money(snap.summary["itcsumm"]) == _money(portal["itcsumm"])
    assert _cp_totals(snap.summary["cpsumm"]) == _cp_totals(portal["cpsumm"])
    # pending KA-7790 and the unfiled b2ba are left out; the rejected invoice is in its own part
    assert snap.summary["counts"] == {
        "itcavl": 5,
        "itcunavl": 0,
        "itcRejected": 1,
        "pending": 0,
        "not_filed": 0,
    }


def test_preview_after_importing_the_portal_2b_also_carries_the_filing_dates(tenant_a, sample):
    raw = (FIXTURES / "gstr2b_get2b_response.json").read_bytes()
    with tenant_scope(tenant_a):
        import_gstr2b_files(
            tenant=tenant_a,
            actor=factories.SYSTEM,
            registration=sample,
            files=[ContentFile(raw, name="2b.json")],
        )
        snap = services.build_preview(
            tenant=tenant_a, actor=factories.SYSTEM, registration=sample, period=OCT
        )
    portal = load("gstr2b_get2b_response.json")["data"]
    ours = {
        (s, r["ctin"], r.get("nttyp", "")): r["supfildt"]
        for s, rows in snap.summary["cpsumm"].items()
        for r in rows
    }
    theirs = {
        (s, r["ctin"], r.get("nttyp", "")): r["supfildt"]
        for s, rows in portal["cpsumm"].items()
        for r in rows
    }
    assert ours == theirs


def _documents(lists):
    return sorted(
        (
            section,
            sup["ctin"],
            d.get("inum") or d.get("ntnum"),
            d["typ"],
            *(Decimal(str(d[h])) for h in ("txval", "igst", "cgst", "sgst", "cess")),
        )
        for section, sups in lists.items()
        for sup in sups
        for d in sup.get("inv") or sup.get("nt")
    )


def test_json_download_lists_exactly_the_documents_of_the_2b_sample(tenant_a, sample):
    from returns.selectors import preview_json

    portal = load("gstr2b_get2b_response.json")["data"]
    with tenant_scope(tenant_a):
        ours = preview_json(registration=sample, period=OCT, today=dt.date(2025, 11, 14))
    assert _documents(ours["docdata"]) == _documents(portal["docdata"])
    assert _documents(ours["docRejdata"]) == _documents(portal["docRejdata"])
    assert ours["rtnprd"] == portal["rtnprd"]
    assert ours["gstin"] == portal["gstin"]
