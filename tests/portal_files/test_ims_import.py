"""IMS JSON import (service): the sample's counts and totals, every accepted layout, complete sections, bad files."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gst_sync.files.imports import PortalFileError, import_ims_files
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope

from .conftest import ACTOR, RECIPIENT, docs_of, ims_sample, snapshot, upload


def run(acme, *files, confirm_removals=False):
    tenant, reg = acme
    with tenant_scope(tenant):
        return import_ims_files(
            tenant=tenant, actor=ACTOR, registration=reg, files=list(files), confirm_removals=confirm_removals
        )


def test_sample_imports_with_its_counts_per_section_and_action_and_totals(acme):
    result = run(acme, upload(ims_sample(), "ims.json"))

    assert result.summary.sections == {"b2b": 4, "b2ba": 1, "b2bcn": 1, "b2bdn": 1, "ecom": 1}
    assert result.summary.actions == {"A": 2, "R": 1, "P": 1, "N": 4}
    assert result.summary.totals == {
        "value": Decimal("279660.00"),
        "taxable": Decimal("237000.00"),
        "igst": Decimal("15660.00"),
        "cgst": Decimal("13500.00"),
        "sgst": Decimal("13500.00"),
        "cess": Decimal("0.00"),
    }
    assert result.ingest.created == 8
    assert result.ingest.vanished == 0
    docs = docs_of(acme[0])
    assert len(docs) == 8
    assert {d.source for d in docs.values()} == {"ims_json"}
    assert docs["KA-7781"].portal_action == "R"
    assert docs["CN/25-26/007"].portal_itc_red_req == "Y"
    assert docs["INV/25-26/0142"].cgst == Decimal("9000.00")


def test_sections_nested_under_ims_details_with_the_gstin_import_alike(acme):
    nested = {"gstin": RECIPIENT, "fp": "102025", "imsDetails": ims_sample()}
    result = run(acme, upload(nested))
    assert result.file_gstin == RECIPIENT
    assert result.summary.records == 8
    assert result.ingest.created == 8


def test_sections_under_data_and_imsdetails_in_any_case_and_getinv_codes_are_read(acme):
    s = ims_sample()
    body = {
        "data": {
            "rtin": RECIPIENT,
            "imsdetails": {
                "B2B": s["b2b"],
                "CN": s["b2bcn"],
                "Dn": s["b2bdn"],
                "ECOM": s["ecom"],
                "b2bA": s["b2ba"],
            },
        }
    }
    result = run(acme, upload(body))
    assert result.summary.sections == {"b2b": 4, "b2bcn": 1, "b2bdn": 1, "ecom": 1, "b2ba": 1}
    assert len(docs_of(acme[0])) == 8


def test_several_files_merge_their_sections(acme):
    s = ims_sample()
    result = run(acme, upload({"b2b": s["b2b"]}, "b2b.json"), upload({"b2bcn": s["b2bcn"]}, "cn.json"))
    assert result.summary.sections == {"b2b": 4, "b2bcn": 1}
    assert result.files == ["b2b.json", "cn.json"]


def test_a_section_in_the_file_is_complete_so_missing_documents_of_it_are_marked_vanished(acme):
    run(acme, upload(ims_sample()))
    s = ims_sample()
    result = run(acme, upload({"b2b": s["b2b"][:2]}), confirm_removals=True)
    assert result.ingest.vanished == 2
    assert result.complete_sections == ["b2b"]
    vanished = {n for n, d in docs_of(acme[0]).items() if d.vanished_at}
    assert vanished == {"KA-7790", "GJ/1029"}  # other sections untouched


def test_a_file_of_another_gstin_is_refused_and_nothing_is_written(acme):
    before = snapshot(acme[0])
    with pytest.raises(PortalFileError) as exc:
        run(acme, upload({"gstin": "29AAJFY9012N1ZE", "imsDetails": ims_sample()}))
    assert "29AAJFY9012N1ZE" in str(exc.value)
    assert RECIPIENT in str(exc.value)
    assert snapshot(acme[0]) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"{not json",
            "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (b"\xff\xfe\x00bad", "not a JSON file (not UTF-8"),
        (b"[1, 2]", "$: expected a JSON object with IMS sections, found a list"),
        (b'{"b2b": [], "b2c": []}', "$.b2c: unknown IMS section 'b2c'"),
        (b'{"imsDetails": {"b2b": {"inum": "X"}}}', "$.imsDetails.b2b: expected a list of records"),
        (b'{"token": "abc", "est": "5"}', "no IMS section found"),
        (b'{"gstin": "27XYZ", "b2b": []}', "$.gstin: '27XYZ' is not a 15-character GSTIN"),
    ],
)
def test_a_malformed_file_gets_a_clear_error_and_writes_nothing(acme, content, expected):
    run(acme, upload(ims_sample()))
    before = snapshot(acme[0])
    with pytest.raises(PortalFileError) as exc:
        run(acme, upload(content, "bad.json"))
    assert expected in str(exc.value)
    assert str(exc.value).startswith("bad.json: ")
    assert snapshot(acme[0]) == before


def test_a_bad_record_is_named_by_json_path_record_and_field_and_nothing_is_written(acme):
    s = ims_sample()
    s["b2b"][2]["idt"] = "31-02-2025"
    s["b2bcn"][0]["camt"] = "nine hundred"
    before = snapshot(acme[0])
    with pytest.raises(PortalFileError) as exc:
        run(acme, upload({"imsDetails": s}, "ims.json"))
    assert exc.value.errors == [
        "ims.json: $.imsDetails.b2b[2] (b2b record 3): idt '31-02-2025' is not a date DD-MM-YYYY",
        "ims.json: $.imsDetails.b2bcn[0] (b2bcn record 1): camt 'nine hundred' is not an amount",
    ]
    assert snapshot(acme[0]) == before
    with tenant_scope(acme[0]):
        assert not SupplierDocument.objects.exists()


def test_a_file_over_the_size_cap_is_refused_before_reading(acme, settings):
    settings.IMS_PORTAL_FILE_MAX_BYTES = 1000
    before = snapshot(acme[0])
    with pytest.raises(PortalFileError) as exc:
        run(acme, upload(ims_sample(), "big.json"))
    assert "big.json: the upload is" in str(exc.value)
    assert "the limit is 1000 bytes" in str(exc.value)
    assert snapshot(acme[0]) == before


def test_an_empty_file_is_refused(acme):
    with pytest.raises(PortalFileError, match="empty.json: the file is empty"):
        run(acme, upload(b"", "empty.json"))
