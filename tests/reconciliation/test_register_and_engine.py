"""Purchase register import and upsert, the engine's outcomes, pages, manual link/unlink, tenant isolation."""

import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from audit.models import AuditEvent
from audit.services import Actor
from reconciliation import services
from reconciliation.engine import execute_run
from reconciliation.models import ManualLink, PurchaseLine, ReconMatch
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc
from tests.tokens import api_token

HEAD = "Recipient GSTIN,Supplier GSTIN,Document type,Document number,Document date,Taxable value,IGST,CGST,SGST/UTGST,Cess,ERP reference\n"


def line(
    reg,
    number,
    *,
    date="05-10-2025",
    taxable="10000.00",
    igst="1800.00",
    ref=None,
    kind="Invoice",
    supplier=SUPPLIER_1,
):
    # IGST needs an inter-state supply: the supplier is in 27 like the recipient, so the place of supply is 29.
    return {
        "recipient_gstin": reg.gstin,
        "supplier_gstin": supplier,
        "kind": kind,
        "doc_number": number,
        "doc_date": date,
        "taxable": taxable,
        "igst": igst,
        "pos": "29",
        "erp_ref": ref or f"PV-{number}",
    }


def as_alice(tenant, alice):
    return dict(
        tenant=tenant,
        actor=Actor.user(alice),
        user=alice,
        membership=Membership.objects.get(tenant=tenant, user=alice),
    )


def upsert(tenant, alice, lines, key=None):
    with tenant_scope(tenant):
        return services.upsert_lines(**as_alice(tenant, alice), lines=lines, idempotency_key=key)


def import_file(tenant, alice, name, data, mapping=None):
    with tenant_scope(tenant):
        job = services.start_import(**as_alice(tenant, alice), name=name, data=data, mapping=mapping)
    return services.run_import(import_id=job.pk)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def test_csv_import_creates_valid_rows_reports_bad_ones_and_reimport_updates(
    tenant_a, reg_a1, alice, client_for
):
    data = (
        HEAD + f"{reg_a1.gstin},{SUPPLIER_2},Invoice,INV/1,05-10-2025,1000,180,0,0,0,PV-1\n"
        f"{reg_a1.gstin},27ABCDE1234F1Z,Invoice,INV/2,31-02-2025,abc,0,0,0,0,PV-2\n"
    ).encode()
    job = import_file(tenant_a, alice, "register.csv", data)
    assert (job.status, job.created, job.error_count) == ("done", 1, 1)
    problems = {e["field"] for e in job.errors}
    assert {"Supplier GSTIN", "Document date", "Taxable value"} <= problems
    report = client_for(alice).get(f"/t/acme/reconciliation/register/imports/{job.pk}/errors/")
    assert report.status_code == 200
    sheets = openpyxl.load_workbook(io.BytesIO(b"".join(report.streaming_content)), read_only=True)
    cells = {c for ws in sheets.worksheets for row in ws.iter_rows(values_only=True) for c in row}
    assert "Taxable value" in cells
    again = import_file(tenant_a, alice, "register.csv", data.replace(b",1000,180,", b",1000,190,"))
    assert (again.created, again.updated) == (0, 1)
    with tenant_scope(tenant_a):
        assert PurchaseLine.objects.get(erp_ref="PV-1").igst == Decimal("190.00")


def test_xlsx_with_own_headings_uses_the_remembered_mapping_next_time(tenant_a, reg_a1, alice):
    from ims_project.xlsx import write_xlsx

    buf = io.BytesIO()
    headers = ["GSTIN", "Vendor GSTIN", "Type", "Bill No", "Bill Dt", "Txval", "Voucher"]
    write_xlsx(
        buf,
        sheet_name="s",
        headers=headers,
        rows=[[reg_a1.gstin, SUPPLIER_1, "CN", "C-9", dt.date(2025, 10, 1), Decimal("-50"), "V9"]],
    )
    mapping = {
        "recipient_gstin": "GSTIN",
        "supplier_gstin": "Vendor GSTIN",
        "kind": "Type",
        "doc_number": "Bill No",
        "doc_date": "Bill Dt",
        "taxable": "Txval",
        "erp_ref": "Voucher",
    }
    assert import_file(tenant_a, alice, "r.xlsx", buf.getvalue(), mapping).created == 1
    assert import_file(tenant_a, alice, "r.xlsx", buf.getvalue()).unchanged == 1  # mapping remembered
    with tenant_scope(tenant_a):
        assert PurchaseLine.objects.get(erp_ref="V9").kind == "credit_note"


def test_zip_bomb_and_missing_required_columns_are_refused_before_import(tenant_a, reg_a1, alice):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"0" * 50_000_000)
    with tenant_scope(tenant_a), pytest.raises(services.ReconError, match="zip bomb"):
        services.start_import(**as_alice(tenant_a, alice), name="bomb.xlsx", data=buf.getvalue())
    with tenant_scope(tenant_a), pytest.raises(services.ReconError, match="Document number"):
        services.start_import(
            **as_alice(tenant_a, alice), name="r.csv", data=b"Recipient GSTIN,Supplier GSTIN\n1,2\n"
        )


def test_rest_upsert_reports_rows_replays_idempotency_and_hides_other_tenants(
    tenant_a, reg_a1, alice, charlie, client
):
    token = api_token(alice)
    body = {"lines": [line(reg_a1, "INV/1"), {**line(reg_a1, "INV/2"), "doc_date": "2025-13-45"}]}
    h = {"HTTP_AUTHORIZATION": f"Token {token.key}", "HTTP_IDEMPOTENCY_KEY": "k1"}
    r = client.post("/api/v1/t/acme/purchase-register/", body, content_type="application/json", **h)
    assert r.status_code == 207
    assert r.json()["created"] == 1
    assert r.json()["errors"][0]["index"] == 1
    assert r.json()["errors"][0]["field"] == "doc_date"
    again = client.post("/api/v1/t/acme/purchase-register/", body, content_type="application/json", **h)
    assert again.json() == r.json()
    other = client.post(
        "/api/v1/t/acme/purchase-register/",
        {"lines": [line(reg_a1, "X")]},
        content_type="application/json",
        **h,
    )
    assert other.status_code == 422
    too_many = client.post(
        "/api/v1/t/acme/purchase-register/",
        {"lines": [{}] * 10_001},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert too_many.status_code == 400
    ctoken = api_token(charlie)
    assert (
        client.post(
            "/api/v1/t/acme/purchase-register/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {ctoken.key}",
        ).status_code
        == 404
    )


@pytest.fixture
def reconciled(tenant_a, reg_a1, alice):
    d = {
        n: make_doc(reg_a1, doc_number=n, twob_period=dt.date(2025, 10, 1))
        for n in ("INV/2025-26/001", "INV/002", "INV/003", "INV/0045", "INV/005", "INV/006")
    }
    status, _ = upsert(
        tenant_a,
        alice,
        [
            line(reg_a1, "inv-1"),  # exact (other spelling)
            line(reg_a1, "INV/002", igst="1799.40"),  # within tolerance
            line(reg_a1, "INV/003", taxable="12000"),  # mismatch
            line(reg_a1, "INV45B", date="08-10-2025"),  # probable (fuzzy number, +3 days)
            line(reg_a1, "INV/005"),
            line(reg_a1, "INV/005", ref="PV-dup"),  # one pairs, one duplicate
            line(reg_a1, "INV/999"),  # missing in supplier data; INV/006 missing in register
        ],
    )
    assert status == 200
    with tenant_scope(tenant_a):
        run = services.start_run(
            **as_alice(tenant_a, alice),
            registrations=[reg_a1],
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    return execute_run(run_id=run.pk), d


def outcome_of(tenant, run, number):
    with tenant_scope(tenant):
        return {
            m.outcome
            for m in ReconMatch.objects.filter(run=run).select_related("purchase", "document")
            if (m.purchase and m.purchase.doc_number == number)
            or (m.document and m.document.doc_number == number)
        }


def test_engine_outcomes_cover_every_kind(tenant_a, reconciled):
    run, _ = reconciled
    assert run.status == "done"
    assert run.counts == {
        "exact": 2,
        "tolerance": 1,
        "mismatch": 1,
        "probable": 1,
        "duplicate": 1,
        "missing_in_supplier": 1,
        "missing_in_register": 1,
    }
    assert outcome_of(tenant_a, run, "inv-1") == {"exact"}
    assert outcome_of(tenant_a, run, "INV45B") == {"probable"}
    with tenant_scope(tenant_a):
        mm = ReconMatch.objects.get(run=run, outcome="mismatch")
        assert mm.d_taxable == Decimal("-2000.00")  # supplier − books


def test_summary_drilldown_pair_and_probe_pages(tenant_a, reconciled, alice, client_for):
    run, d = reconciled
    c = client_for(alice)
    page = c.get("/t/acme/reconciliation/")
    assert page.status_code == 200
    assert b"Within tolerance" in page.content
    assert b"recon-summary" in page.content
    drill = c.get(f"/t/acme/reconciliation/matches/?run={run.pk}&outcome=tolerance")
    assert b"INV/002" in drill.content
    assert b"INV/003" not in drill.content
    with tenant_scope(tenant_a):
        m = ReconMatch.objects.get(run=run, outcome="tolerance")
    pair = c.get(f"/t/acme/reconciliation/matches/{m.pk}/")
    assert "IGST −0.60".encode() not in pair.content
    assert b"IGST +0.60" in pair.content  # supplier − books
    with tenant_scope(tenant_a):
        p = PurchaseLine.objects.get(erp_ref="PV-INV/999")
    probe = c.get(f"/t/acme/reconciliation/why-not/?purchase={p.pk}&document={d['INV/006'].pk}")
    assert b"numbers too different" in probe.content
    bad = c.get("/t/acme/reconciliation/why-not/?purchase=nope&document=1")
    assert bad.status_code == 400


def test_manual_link_and_unlink_are_audited_shown_at_once_and_kept_across_runs(
    tenant_a, reg_a1, reconciled, alice, client_for
):
    run, d = reconciled
    c = client_for(alice)
    with tenant_scope(tenant_a):
        p999 = PurchaseLine.objects.get(erp_ref="PV-INV/999")
        p2 = PurchaseLine.objects.get(erp_ref="PV-INV/002")
    c.post("/t/acme/reconciliation/link/", {"purchase": p999.pk, "document": d["INV/006"].pk, "op": "link"})
    c.post("/t/acme/reconciliation/link/", {"purchase": p2.pk, "document": d["INV/002"].pk, "op": "unlink"})
    assert outcome_of(tenant_a, run, "INV/999") == {"manual"}
    assert outcome_of(tenant_a, run, "INV/002") == {"missing_in_supplier", "missing_in_register"}
    with tenant_scope(tenant_a):
        assert ManualLink.objects.count() == 2
        assert {e.action for e in AuditEvent.objects.filter(action__startswith="recon.")} >= {
            "recon.linked",
            "recon.unlinked",
        }
        rerun = services.start_run(
            **as_alice(tenant_a, alice),
            registrations=[reg_a1],
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    rerun = execute_run(run_id=rerun.pk)
    assert outcome_of(tenant_a, rerun, "INV/999") == {"manual"}
    assert outcome_of(tenant_a, rerun, "INV/002") == {"missing_in_supplier", "missing_in_register"}
    with tenant_scope(tenant_a):
        assert ReconMatch.objects.filter(run=run).exists()  # the run before keeps its results (to compare)
        third = services.start_run(
            **as_alice(tenant_a, alice),
            registrations=[reg_a1],
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    execute_run(run_id=third.pk)
    with tenant_scope(tenant_a):
        assert not ReconMatch.objects.filter(run=run).exists()  # older results of the same period dropped
        assert ReconMatch.objects.filter(run=rerun).exists()


def test_other_tenant_sees_nothing_by_url(tenant_a, reconciled, charlie, client_for):
    run, d = reconciled
    with tenant_scope(tenant_a):
        m = ReconMatch.objects.filter(run=run).first()
    c = client_for(charlie)
    assert c.get("/t/acme/reconciliation/").status_code == 404
    assert c.get(f"/t/bharat/reconciliation/matches/{m.pk}/").status_code == 404
    assert c.get(f"/t/bharat/reconciliation/matches/?run={run.pk}").status_code == 404
    assert (
        c.post(
            "/t/bharat/reconciliation/link/", {"purchase": 1, "document": d["INV/006"].pk, "op": "link"}
        ).status_code
        == 404
    )


def test_viewer_may_not_start_a_run_or_import(tenant_a, reg_a1, bob, client_for):
    c = client_for(bob)
    r = c.post(
        "/t/acme/reconciliation/",
        {"registrations": [reg_a1.pk], "date_from": "01-10-2025", "date_to": "31-10-2025"},
    )
    assert r.status_code == 403
    bad = client_for(bob).post("/t/acme/reconciliation/", {"date_from": "2025-10-01", "date_to": ""})
    assert bad.status_code == 400
