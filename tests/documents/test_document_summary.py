"""The maintained document summary behind the dashboard (docs/decisions/0010-maintained-document-summary.md) equals
a full scan of the documents after every kind of write: ingest (new, changed by the supplier, vanished, back
again, the portal's action changed), a single action, bulk actions in the request and by the worker, an approval,
a GSTR-3B filing and the claim periods it fixes, a deletion and raw SQL. Sync, push and the IMS file import are
checked in tests/gst_sync and tests/portal_files."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection

from actions import services as actions
from actions.tasks import run_bulk_action_task
from approvals import services as approvals
from approvals.models import ApprovalRequest
from audit.services import Actor
from invoices.models import DocSummary, SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import claims
from returns import services as returns
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.factories import document_record, gstin_for
from tests.summary_check import assert_summary_is_a_scan, deltas

SYSTEM = Actor.system("tests")
SUPPLIER = gstin_for(41, "27")


def member(tenant, user):
    with tenant_scope(tenant):
        return Membership.objects.get(tenant=tenant, user=user)


def bulk(tenant, user, docs, action, **kw):
    with tenant_scope(tenant):
        return actions.bulk_set_action(
            tenant=tenant,
            actor=Actor.user(user),
            user=user,
            membership=member(tenant, user),
            ids=[d.pk for d in docs],
            action=action,
            **kw,
        )


def one(tenant, user, document, action, **kw):
    with tenant_scope(tenant):
        return actions.set_action(
            tenant=tenant,
            actor=Actor.user(user),
            membership=member(tenant, user),
            document=document,
            action=action,
            **kw,
        )


def ingest(tenant, reg, records, **kw):
    with tenant_scope(tenant):
        result = ingest_documents(
            tenant=tenant, registration=reg, records=records, actor=SYSTEM, source="portal", **kw
        )
    assert not result.errors
    return result


def by_number(tenant) -> dict[str, SupplierDocument]:
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.filter(tenant=tenant)}


def rec(number, **kw):
    return document_record(supplier_gstin=kw.pop("supplier", SUPPLIER), number=number, **kw)


def test_ingest_new_changed_vanished_and_returning_documents_keep_the_summary(tenant_a, reg_a1, reg_a2):
    ingest(
        tenant_a,
        reg_a1,
        {
            "b2b": [
                rec("K-1"),
                rec("G-1", action="A"),
                rec("S-1", supplier_period="092025", date=dt.date(2025, 9, 3)),
            ],
            "b2bcn": [rec("C-1", section="b2bcn", action="R")],
        },
    )
    ingest(tenant_a, reg_a2, {"b2b": [rec("O-1", pos="29")]})
    assert deltas(tenant_a) > 0  # written by the ingest's own statements, folded by the next read
    assert_summary_is_a_scan(tenant_a)

    # The supplier changes an amount, the portal's action moves, one document leaves the portal.
    ingest(
        tenant_a,
        reg_a1,
        {
            "b2b": [
                rec("K-1", taxable=Decimal("25000.00"), action="P"),
                rec("S-1", supplier_period="092025", date=dt.date(2025, 9, 3)),
            ]
        },
        complete_sections=["b2b"],
    )
    assert by_number(tenant_a)["G-1"].vanished_at is not None
    assert_summary_is_a_scan(tenant_a)
    ingest(tenant_a, reg_a1, {"b2b": [rec("G-1", action="A")]})  # back again
    assert by_number(tenant_a)["G-1"].vanished_at is None
    assert_summary_is_a_scan(tenant_a)


def test_single_and_bulk_actions_in_the_request_and_by_the_worker_keep_the_summary(
    tenant_a, reg_a1, alice, settings
):
    docs = [make_doc(reg_a1, supplier_period=dt.date(2025, 10, 1)) for _ in range(5)]
    cn = make_doc(reg_a1, section="b2bcn", portal_action="A")
    assert_summary_is_a_scan(tenant_a)
    one(tenant_a, alice, docs[0], "A")
    one(tenant_a, alice, cn, "R", remarks="goods returned twice")
    assert_summary_is_a_scan(tenant_a)
    bulk(tenant_a, alice, docs[:3], "P")
    assert_summary_is_a_scan(tenant_a)
    settings.IMS_BULK_ACTION_SYNC_MAX, settings.IMS_BULK_ACTION_CHUNK = 2, 2
    queued = bulk(tenant_a, alice, docs, "R", remarks="not received")
    assert queued.status == "queued"
    assert_summary_is_a_scan(tenant_a)  # nothing applied yet
    assert run_bulk_action_task(queued.run_id) == "done"
    assert_summary_is_a_scan(tenant_a)
    settings.IMS_BULK_ACTION_SYNC_MAX = 100
    bulk(tenant_a, alice, docs, "N")  # back to no action: local actions cleared where the portal says N
    assert_summary_is_a_scan(tenant_a)


def test_actions_held_for_approval_returned_and_approved_keep_the_summary(tenant_a, reg_a1, alice, pat):
    with tenant_scope(tenant_a):
        approvals.save_policy(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=member(tenant_a, alice),
            name="big rejects",
            action="R",
            min_value=Decimal("100000"),
        )
    large, small = make_doc(reg_a1, taxable_value="200000.00"), make_doc(reg_a1, taxable_value="100.00")
    bulk(tenant_a, pat, [large, small], "R", remarks="wrong rate")
    assert_summary_is_a_scan(tenant_a)

    def decide(verb, **kw):
        with tenant_scope(tenant_a):
            approval = ApprovalRequest.objects.filter(tenant=tenant_a).order_by("-id").first()
            getattr(approvals, verb)(
                tenant=tenant_a,
                actor=Actor.user(alice),
                user=alice,
                membership=member(tenant_a, alice),
                approval=approval,
                **kw,
            )

    decide("return_request", comment="no")
    assert_summary_is_a_scan(tenant_a)
    bulk(tenant_a, pat, [large], "R", remarks="again")
    decide("approve")
    assert by_number(tenant_a)[large.doc_number].local_action == "R"
    assert_summary_is_a_scan(tenant_a)


def test_a_filing_and_the_claim_periods_it_fixes_change_nothing_the_summary_shows(tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, {"b2b": [rec("F-1", action="A"), rec("F-2", action="P")]})
    assert_summary_is_a_scan(tenant_a)
    with tenant_scope(tenant_a):
        claims.refresh_claim_periods(registration=reg_a1, today=dt.date(2025, 11, 5))
        returns.mark_gstr3b_filed(
            tenant=tenant_a,
            actor=SYSTEM,
            registration=reg_a1,
            period=dt.date(2025, 10, 1),
            filed_on=dt.date(2025, 11, 20),
        )
        claims.refresh_claim_periods(registration=reg_a1, today=dt.date(2025, 11, 25))
    assert by_number(tenant_a)["F-1"].itc_claim_period == dt.date(2025, 10, 1)
    assert deltas(tenant_a) == 0  # statements that change no summary column append nothing
    assert_summary_is_a_scan(tenant_a)


def test_deleting_documents_and_raw_sql_keep_the_summary(tenant_a, tenant_b, reg_a1, reg_b1):
    a, b, c = make_doc(reg_a1), make_doc(reg_a1, local_action="R"), make_doc(reg_a1, section="b2bdn")
    foreign = make_doc(reg_b1)
    assert_summary_is_a_scan(tenant_a)
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(pk=b.pk).delete()
    assert_summary_is_a_scan(tenant_a)
    with connection.cursor() as cur:  # a writer that knows nothing of the summary
        cur.execute(
            "UPDATE invoices_supplierdocument SET igst = igst + 1, supplier_period = '2025-08-01' WHERE id = %s",
            [a.pk],
        )
        cur.execute("UPDATE invoices_supplierdocument SET vanished_at = now() WHERE id = %s", [c.pk])
        cur.execute(
            "UPDATE invoices_supplierdocument SET tenant_id = tenant_id WHERE tenant_id = %s", [tenant_a.pk]
        )
    assert_summary_is_a_scan(tenant_a)
    assert_summary_is_a_scan(tenant_b)
    with tenant_scope(tenant_b):
        SupplierDocument.objects.filter(pk=foreign.pk).delete()
    assert_summary_is_a_scan(tenant_b)
    assert_summary_is_a_scan(tenant_a)


def test_documents_kept_pending_under_the_one_period_limit_keep_their_gstr2b_month_in_the_summary(
    tenant_a, reg_a1, reg_a2, alice
):
    def limited() -> set:
        with tenant_scope(tenant_a):
            return {
                (r.registration_id, r.section, r.limit_month)
                for r in DocSummary.objects.filter(tenant=tenant_a, limit_month__isnull=False)
            }

    oct_, nov = dt.date(2025, 10, 1), dt.date(2025, 11, 1)
    # inserted: the filing date places the 2B month (the 11th; the 13th for IFF); a supplier period before
    # October 2025, an ineligible ISD credit note, a place of supply in the supplier's own state: no limit
    cn = make_doc(reg_a1, section="b2bcn", portal_action="P", supplier_filing_date=dt.date(2025, 11, 12))
    iff = make_doc(
        reg_a1, section="b2bcn", portal_action="P", src_form="IFF", supplier_filing_date=dt.date(2025, 11, 12)
    )
    early = make_doc(reg_a1, section="b2bcn", portal_action="P", doc_date=dt.date(2025, 9, 2))
    cna = make_doc(reg_a1, section="b2bcna", portal_action="N")
    make_doc(reg_a1, section="isdcn", portal_action="P", itc_eligible="N")
    make_doc(reg_a2, section="b2bdna", portal_action="P", pos="27", supplier_gstin=gstin_for(7, "27"))
    ingest(
        tenant_a, reg_a2, {"b2bcn": [rec("CN-9", section="b2bcn", action="P", pos="29")]}
    )  # no filing date: its period
    assert_summary_is_a_scan(tenant_a)
    assert limited() == {
        (reg_a1.pk, "b2bcn", nov),
        (reg_a1.pk, "b2bcn", oct_),
        (reg_a2.pk, "b2bcn", oct_),
    }

    # actions move documents in and out: one, in bulk, by the worker
    one(tenant_a, alice, cna, "P")
    one(tenant_a, alice, cn, "A")
    assert_summary_is_a_scan(tenant_a)
    assert (reg_a1.pk, "b2bcna", oct_) in limited()
    bulk(tenant_a, alice, [cn, iff, early, cna], "P")
    assert_summary_is_a_scan(tenant_a)
    bulk(tenant_a, alice, [iff, cna], "R", remarks="not ours")
    assert_summary_is_a_scan(tenant_a)
    assert (reg_a1.pk, "b2bcna", oct_) not in limited()  # rejected

    # the portal's 2B period, a new filing date, the supplier no longer filed, vanished and back: raw SQL
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE invoices_supplierdocument SET twob_period = '2025-12-01', local_action = 'P' WHERE id = %s",
            [cn.pk],
        )
        cur.execute(
            "UPDATE invoices_supplierdocument SET supplier_filing_date = '2025-10-03' WHERE id = %s",
            [early.pk],
        )
        cur.execute("UPDATE invoices_supplierdocument SET vanished_at = now() WHERE section = 'b2bcna'")
    assert_summary_is_a_scan(tenant_a)
    assert (reg_a1.pk, "b2bcn", dt.date(2025, 12, 1)) in limited()
    with connection.cursor() as cur:
        cur.execute("UPDATE invoices_supplierdocument SET vanished_at = NULL WHERE section = 'b2bcna'")
        cur.execute(
            "UPDATE invoices_supplierdocument SET supplier_filing_status = 'not_filed' WHERE id = %s", [cn.pk]
        )
    assert_summary_is_a_scan(tenant_a)
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(section="b2bcn").delete()
    assert_summary_is_a_scan(tenant_a)
    assert limited() == set()
