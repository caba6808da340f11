"""GSTR-2B JSON import (service): stored statement and documents, totals = itcsumm, both amount layouts,
multi-file merge, replacement of a period, links to IMS documents, bad files."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from gst_sync.files.imports import PortalFileError, import_gstr2b_files, import_ims_files
from gst_sync.models import Gstr2bDocument, Gstr2bStatement
from tenancy.scoping import tenant_scope

from .conftest import ACTOR, RECIPIENT, docs_of, ims_sample, snapshot, twob_sample, upload

HEADS = ("igst", "cgst", "sgst", "cess")


def run(acme, *files, period=""):
    tenant, reg = acme
    with tenant_scope(tenant):
        return import_gstr2b_files(
            tenant=tenant, actor=ACTOR, registration=reg, files=list(files), period=period
        )


def sums(tenant, **filters) -> dict[str, Decimal]:
    with tenant_scope(tenant):
        got = Gstr2bDocument.objects.filter(**filters).aggregate(**{h: Sum(h) for h in HEADS})
    return {h: got[h] or Decimal("0.00") for h in HEADS}


def figures(block: dict) -> dict[str, Decimal]:
    return {h: Decimal(str(block[h])) for h in HEADS}


def test_sample_is_stored_with_its_documents_and_sums_equal_to_its_itcsumm(acme):
    result = run(acme, upload(twob_sample(), "2b.json"))
    tenant = acme[0]
    with tenant_scope(tenant):
        st = Gstr2bStatement.objects.get()
        assert (st.period, st.generated_on, st.version, st.document_count) == (
            dt.date(2025, 10, 1),
            dt.date(2025, 11, 14),
            "1.0",
            6,
        )
        assert st.checksum == "6538D21AA5DCD66EC9CAA0B96C3549572EE34DEE"
        assert set(st.summary) == {"itcsumm", "cpsumm"}
        per_section = sorted(Gstr2bDocument.objects.values_list("section", "note_type", "rejected"))
    assert per_section == [
        ("b2b", "", False),
        ("b2b", "", False),
        ("b2b", "", True),
        ("cdnr", "C", False),
        ("cdnr", "D", False),
        ("ecom", "", False),
    ]
    itc = twob_sample()["data"]["itcsumm"]
    avl, rej = itc["itcavl"], itc["itcRejected"]
    assert sums(tenant, section="b2b", rejected=False) == figures(avl["nonrevsup"]["b2b"])
    assert sums(tenant, section="cdnr", note_type="D", rejected=False) == figures(avl["nonrevsup"]["cdnr"])
    assert sums(tenant, section="ecom", rejected=False) == figures(avl["nonrevsup"]["ecom"])
    assert sums(tenant, rejected=False, note_type__in=["", "D"]) == figures(avl["nonrevsup"])
    assert (
        sums(tenant, section="cdnr", note_type="C")
        == figures(avl["othersup"]["cdnr"])
        == figures(avl["othersup"])
    )
    assert sums(tenant, rejected=True) == figures(rej["nonrevsup"]["b2b"]) == figures(rej["nonrevsup"])
    assert all(c["matches"] for c in result.checks)
    assert len(result.checks) == 5
    assert result.counts == {"b2b": 3, "cdnr": 2, "ecom": 1}
    assert result.rejected == 1


def test_per_rate_items_layout_gives_the_same_totals_as_document_totals(acme):
    body = twob_sample()
    for lists in (body["data"]["docdata"], body["data"]["docRejdata"]):
        for suppliers in lists.values():
            for supplier in suppliers:
                for doc in supplier.get("inv", supplier.get("nt", [])):
                    totals = {k: doc.pop(k) for k in ("txval", "igst", "cgst", "sgst", "cess")}
                    half = {k: Decimal(v) / 2 for k, v in totals.items()}
                    doc["items"] = [
                        {"num": 1, "rt": 18, **{k: str(v) for k, v in half.items()}},
                        {"num": 2, "rt": 18, **{k: str(v) for k, v in half.items()}},
                    ]
    result = run(acme, upload(body))
    assert all(c["matches"] for c in result.checks)
    with tenant_scope(acme[0]):
        inv = Gstr2bDocument.objects.get(doc_number="INV/25-26/0142")
    assert (inv.taxable_value, inv.cgst, inv.sgst) == (
        Decimal("100000.00"),
        Decimal("9000.00"),
        Decimal("9000.00"),
    )


def test_the_data_object_alone_is_accepted(acme):
    result = run(acme, upload(twob_sample()["data"]))
    assert result.statement.document_count == 6


def split(body: dict) -> tuple[dict, dict]:
    """The sample as two fc parts: part 1 has the summary and docdata.b2b; part 2 the rest."""
    one, two = copy.deepcopy(body), copy.deepcopy(body)
    one["data"]["fc"] = two["data"]["fc"] = 2
    one["data"]["docdata"] = {"b2b": body["data"]["docdata"]["b2b"]}
    del one["data"]["docRejdata"]
    two["data"]["docdata"] = {k: v for k, v in body["data"]["docdata"].items() if k != "b2b"}
    del two["data"]["itcsumm"], two["data"]["cpsumm"]
    return one, two


def test_parts_of_one_period_uploaded_together_are_merged(acme):
    one, two = split(twob_sample())
    result = run(acme, upload(one, "part1.json"), upload(two, "part2.json"))
    assert result.statement.document_count == 6
    assert result.statement.file_count == 2
    assert all(c["matches"] for c in result.checks)


def test_a_missing_part_is_refused_and_nothing_is_written(acme):
    one, _ = split(twob_sample())
    with pytest.raises(
        PortalFileError, match=r"split this GSTR-2B into 2 files \(fc = 2\) but 1 was uploaded"
    ):
        run(acme, upload(one, "part1.json"))
    assert snapshot(acme[0])[1:3] == (0, 0)


def test_parts_of_different_periods_are_refused(acme):
    one, two = split(twob_sample())
    two["data"]["rtnprd"] = "092025"
    with pytest.raises(PortalFileError) as exc:
        run(acme, upload(one, "part1.json"), upload(two, "part2.json"))
    assert "part2.json: wrong period 092025: part1.json is for 102025" in str(exc.value)


def test_the_same_part_uploaded_twice_is_refused(acme):
    with pytest.raises(PortalFileError, match="b.json: the same file as a.json"):
        run(acme, upload(twob_sample(), "a.json"), upload(twob_sample(), "b.json"))


def test_reimporting_a_period_replaces_it_and_links_ims_documents(acme):
    tenant, reg = acme
    with tenant_scope(tenant):
        import_ims_files(tenant=tenant, actor=ACTOR, registration=reg, files=[upload(ims_sample())])
    first = run(acme, upload(twob_sample()))
    assert first.matched == 6
    docs = docs_of(tenant)
    assert docs["INV/25-26/0142"].twob_period == dt.date(2025, 10, 1)
    assert docs["INV/25-26/0142"].supplier_filing_date == dt.date(2025, 11, 10)
    assert docs["KA-7781"].twob_period == dt.date(2025, 10, 1)  # rejected: in the 2B's rejected part
    assert docs["CN/25-26/007"].twob_period
    assert docs["DN-KA-0031"].supplier_filing_date == dt.date(2025, 11, 9)
    assert docs["KA-7790"].twob_period is None
    assert docs["INV/25-26/0099"].twob_period is None  # not filed

    body = twob_sample()
    body["data"]["docdata"]["ecom"] = []
    second = run(acme, upload(body))
    assert second.statement.pk == first.statement.pk
    assert second.replaced == 6
    assert second.cleared == 1
    with tenant_scope(tenant):
        assert Gstr2bStatement.objects.count() == 1
        assert Gstr2bDocument.objects.count() == 5
    assert docs_of(tenant)["ECO/99812"].twob_period is None


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda b: b["data"].update(gstin="29AAJFY9012N1ZE"),
            "is for GSTIN 29AAJFY9012N1ZE, not 27AAICZ1234Q1ZQ",
        ),
        (
            lambda b: b["data"].update(rtnprd="13-2025"),
            "2b.json: $.data.rtnprd: '13-2025' is not a tax period MMYYYY",
        ),
        (
            lambda b: b["data"].update(gendt="2025-11-14"),
            "$.data.gendt: '2025-11-14' is not a date DD-MM-YYYY",
        ),
        (lambda b: b["data"]["docdata"].update(b2c=[]), "$.data.docdata.b2c: unknown GSTR-2B section 'b2c'"),
        (
            lambda b: b["data"]["docdata"]["b2b"][1]["inv"][0].update(igst="1,800"),
            "$.data.docdata.b2b[1].inv[0] (document 1 of supplier 24AAKCV7788R1Z1): igst '1,800' is not an amount",
        ),
        (
            lambda b: b["data"]["docdata"]["cdnr"][0]["nt"][0].update(typ="X"),
            "$.data.docdata.cdnr[0].nt[0] (document 1 of supplier 27AAFCX5678M1ZF): typ 'X' is not a note type",
        ),
        (
            lambda b: b["data"]["docRejdata"]["b2b"][0].update(ctin="29AAJ"),
            "$.data.docRejdata.b2b[0] (supplier 1 of b2b): ctin '29AAJ' is not a 15-character GSTIN",
        ),
        (
            lambda b: b["data"]["docdata"]["ecom"][0]["inv"][0].update(dt="12/10/2025"),
            "ecom[0].inv[0] (document 1 of supplier 07AAGCW3456P1ZN): dt '12/10/2025' is not a date DD-MM-YYYY",
        ),
        (lambda b: b.update(data={"gstin": RECIPIENT, "rtnprd": "102025"}), "not a GSTR-2B (no docdata"),
    ],
)
def test_a_bad_2b_gets_a_clear_error_and_the_stored_period_is_unchanged(acme, mutate, expected):
    run(acme, upload(twob_sample()))
    before = snapshot(acme[0])
    body = twob_sample()
    mutate(body)
    with pytest.raises(PortalFileError) as exc:
        run(acme, upload(body, "2b.json"))
    assert expected in str(exc.value)
    assert snapshot(acme[0]) == before


def test_a_2b_of_another_period_than_expected_is_refused(acme):
    with pytest.raises(
        PortalFileError, match="wrong period: the file is the GSTR-2B of 102025, expected 092025"
    ):
        run(acme, upload(twob_sample()), period="092025")
    assert snapshot(acme[0])[1] == 0


def test_isd_and_import_lists_are_reported_as_not_stored(acme):
    body = twob_sample()
    body["data"]["docdata"]["impg"] = [{"refdt": "01-10-2025", "boenum": "1"}]
    result = run(acme, upload(body))
    assert result.parsed.skipped == {"impg": 1}
    assert result.statement.document_count == 6
