"""The document filter ``reconciliation``: documents whose latest finished reconciliation of their GSTIN put them in
the given outcomes, through the list page, the Excel export and a bulk "all matching" action; only the latest run
of each GSTIN counts, documents changed on the portal since are left out, and another tenant's runs never count."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from actions.models import BulkActionRun
from actions.services import bulk_set_action
from exports.models import ExportJob
from exports.services import run_export
from invoices.models import DocumentVersion, SupplierDocument
from reconciliation.models import ReconMatch, ReconRun, RuleSetVersion
from tenancy.scoping import tenant_scope
from tests.documents.recon_helpers import as_user, books, doc, line, reconcile, upsert

pytestmark = pytest.mark.django_db

LIST = "/t/acme/documents/"
EXPORT = "/t/acme/documents/export/"


@pytest.fixture
def reconciled(tenant_a, reg_a1, alice):
    docs = books(tenant_a, alice, reg_a1)
    docs["run"] = reconcile(tenant_a, alice, reg_a1)
    return docs


def numbers_on_page(response) -> set[str]:
    assert response.status_code == 200, response.content.decode()[:2000]
    return {d.doc_number for d in response.context["page"].rows}


def sheet_numbers(content: bytes) -> set[str]:
    ws = load_workbook(io.BytesIO(content), read_only=True).active
    return {row[4] for row in list(ws.iter_rows(values_only=True))[1:]}


def test_list_page_filters_by_outcome_and_ticks_the_boxes(client_for, alice, reconciled):
    client = client_for(alice)
    assert numbers_on_page(client.get(LIST, {"reconciliation": ["exact", "tolerance"]})) == {
        "EXACT",
        "TOL",
        "BIGEXACT",
    }
    assert numbers_on_page(client.get(LIST, {"reconciliation": "mismatch"})) == {"MISM"}
    page = client.get(LIST, {"reconciliation": "missing_in_books"})  # a group name: missing in the register
    assert numbers_on_page(page) == {"NOBOOK"}
    html = page.content.decode()
    assert 'name="reconciliation" value="missing_in_register" id="id_reconciliation_6" checked' in html
    assert 'value="exact" id="id_reconciliation_0" checked' not in html
    # Combined with another filter; and without the filter every document is listed.
    assert numbers_on_page(client.get(LIST, {"reconciliation": "matched", "value_max": "50000"})) == {
        "EXACT",
        "TOL",
    }
    assert len(numbers_on_page(client.get(LIST))) == 5


def test_a_malformed_outcome_is_a_field_error_on_the_page_not_a_500(client_for, alice, reconciled):
    page = client_for(alice).get(LIST, {"reconciliation": ["exact", "weather"]})
    assert page.status_code == 400
    html = page.content.decode()
    assert "Unknown reconciliation outcome &#x27;weather&#x27;" in html
    assert "Some filters are not valid" in html
    # Missing in supplier data has no supplier document: not a document outcome.
    assert client_for(alice).get(LIST, {"reconciliation": "missing_in_supplier"}).status_code == 400


def test_only_the_latest_finished_run_of_each_gstin_counts(
    tenant_a, reg_a1, reg_a2, alice, client_for, reconciled
):
    client = client_for(alice)
    # The books are corrected: MISM now matches exactly; a new run says so, the old run's mismatch no longer counts.
    upsert(tenant_a, alice, [line(reg_a1, "MISM")])
    second = reconcile(tenant_a, alice, reg_a1)
    assert numbers_on_page(client.get(LIST, {"reconciliation": "mismatch"})) == set()
    assert "MISM" in numbers_on_page(client.get(LIST, {"reconciliation": "exact"}))
    # A later run of another GSTIN does not hide reg_a1's latest run; a run that failed does not count either.
    other = doc(reg_a2, "A2-ONLY")
    # The register covers reg_a2 in October (a line of another bill), so A2-ONLY is missing from it (not outside it).
    upsert(tenant_a, alice, [line(reg_a2, "A2-BOOKED")])
    reconcile(tenant_a, alice, reg_a2)
    with tenant_scope(tenant_a):
        failed = ReconRun.objects.create(
            tenant=tenant_a,
            user_id=alice.pk,
            actor_type="user",
            actor_label="x",
            registration_ids=[reg_a1.pk],
            date_from=second.date_from,
            date_to=second.date_to,
            rules=second.rules,
            status="failed",
        )
        ReconMatch.objects.create(
            tenant=tenant_a,
            run=failed,
            registration=reg_a1,
            supplier_gstin=reconciled["EXACT"].supplier_gstin,
            outcome="mismatch",
            document=reconciled["EXACT"],
        )
    assert numbers_on_page(client.get(LIST, {"reconciliation": "exact"})) == {"EXACT", "BIGEXACT", "MISM"}
    assert numbers_on_page(client.get(LIST, {"reconciliation": "missing_in_register"})) == {
        "NOBOOK",
        other.doc_number,
    }


def test_a_document_changed_on_the_portal_or_amended_since_the_run_is_left_out(
    tenant_a, reg_a1, alice, client_for, reconciled
):
    with tenant_scope(tenant_a):
        DocumentVersion.objects.create(
            tenant=tenant_a,
            document=reconciled["EXACT"],
            version=2,
            seen_at=timezone.now(),
            source="sync",
            changes={"cgst": ["900.00", "950.00"]},
        )
    doc(reg_a1, "BIGEXACT-A", taxable="100000.00", section="b2ba", original=reconciled["BIGEXACT"])
    assert numbers_on_page(client_for(alice).get(LIST, {"reconciliation": "exact"})) == set()


def test_another_tenants_runs_never_count(
    tenant_a, tenant_b, reg_a1, reg_b1, alice, charlie, client_for, reconciled
):
    b_doc = doc(reg_b1, "B-DOC")
    with tenant_scope(tenant_b):
        # A newer finished run of tenant B that (wrongly) names tenant A's GSTIN and documents.
        rules = RuleSetVersion.objects.create(tenant=tenant_b, version=1, params={}, created_by="x")
        run = ReconRun.objects.create(
            tenant=tenant_b,
            user_id=charlie.pk,
            actor_type="user",
            actor_label="x",
            registration_ids=[reg_a1.pk, reg_b1.pk],
            date_from=reconciled["run"].date_from,
            date_to=reconciled["run"].date_to,
            rules=rules,
            status="done",
        )
        for d in (reconciled["EXACT"], reconciled["MISM"]):
            ReconMatch.objects.create(
                tenant=tenant_b,
                run=run,
                registration=reg_b1,
                supplier_gstin=d.supplier_gstin,
                outcome="probable",
                document=d,
            )
    with tenant_scope(tenant_a):  # and a result row of A's run naming B's document
        ReconMatch.objects.create(
            tenant=tenant_a,
            run=reconciled["run"],
            registration=reg_a1,
            supplier_gstin=b_doc.supplier_gstin,
            outcome="exact",
            document=b_doc,
        )
    assert numbers_on_page(client_for(alice).get(LIST, {"reconciliation": "exact"})) == {"EXACT", "BIGEXACT"}
    assert numbers_on_page(client_for(alice).get(LIST, {"reconciliation": "probable"})) == set()
    assert (
        numbers_on_page(client_for(charlie).get("/t/bharat/documents/", {"reconciliation": "exact"})) == set()
    )


def test_excel_export_holds_exactly_the_filtered_documents(client_for, alice, reconciled, settings, tmp_path):
    client = client_for(alice)
    response = client.get(EXPORT, {"reconciliation": ["exact", "tolerance"], "cursor": "ignored"})
    assert response.status_code == 200
    assert sheet_numbers(b"".join(response.streaming_content)) == {"EXACT", "TOL", "BIGEXACT"}
    # A big export is a job: it keeps the filter and re-runs it in the worker.
    settings.EXPORT_SYNC_MAX_ROWS = 1
    settings.EXPORT_DIR = tmp_path
    response = client.get(EXPORT, {"reconciliation": "matched", "value_max": "50000"})
    assert response.status_code == 302
    with tenant_scope(reconciled["EXACT"].tenant_id):
        job = ExportJob.objects.get(direct=False)  # the direct download above is listed too
    assert job.params == {"reconciliation": ["matched"], "value_max": ["50000"]}
    job = run_export(job.pk)
    assert job.status == "done", job.error
    assert sheet_numbers((tmp_path / job.file_name).read_bytes()) == {"EXACT", "TOL"}
    bad = client.get(EXPORT, {"reconciliation": "nope"}, follow=True)
    assert "Fix the filters before exporting" in bad.content.decode()


def test_bulk_all_matching_preview_and_apply_use_the_filter(client_for, tenant_a, alice, reconciled):
    client = client_for(alice)
    data = {
        "all_matching": "on",
        "query": "reconciliation=exact&reconciliation=tolerance&value_max=50000",
        "action": "A",
    }
    page = client.post("/t/acme/actions/confirm/", data)
    assert page.status_code == 200
    preview = page.context["preview"]
    assert (preview.total, preview.outcomes["apply"]) == (2, 2)
    with tenant_scope(tenant_a):
        assert (
            set(SupplierDocument.objects.exclude(local_action=None).values_list("doc_number", flat=True))
            == set()
        )
    applied = client.post("/t/acme/actions/apply/", data)
    assert applied.status_code == 302
    with tenant_scope(tenant_a):
        assert dict(
            SupplierDocument.objects.exclude(local_action=None).values_list("doc_number", "local_action")
        ) == {"EXACT": "A", "TOL": "A"}
        run = BulkActionRun.objects.get()
    assert run.params["filter"]["reconciliation"] == ["exact", "tolerance"]
    bad = client.post("/t/acme/actions/confirm/", {**data, "query": "reconciliation=weather"}, follow=True)
    # Back on the list, the error shown there.
    assert bad.redirect_chain[0][0].startswith("/t/acme/documents/?")
    assert "Unknown reconciliation outcome" in bad.content.decode()


def test_bulk_service_with_the_filter_refuses_a_malformed_outcome_naming_the_field(
    tenant_a, alice, reconciled
):
    from actions.errors import ActionError

    with tenant_scope(tenant_a), pytest.raises(ActionError) as exc:
        bulk_set_action(**as_user(tenant_a, alice), filters={"reconciliation": ["exact", "42"]}, action="A")
    assert exc.value.field == "reconciliation"
    assert "'42'" in exc.value.message
