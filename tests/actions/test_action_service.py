"""One document and bulk actions through the services: rules, set-based writes, audit, roles, isolation."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from actions import services
from actions.errors import ActionError, ActionForbidden, ActionRefused, DocumentsNotFound, IdempotencyConflict
from actions.models import BulkActionRun
from actions.selectors import bulk_preview
from actions.tasks import run_bulk_action_task
from audit.services import Actor
from returns import services as returns_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.actions.conftest import OCT, SEP, events, refreshed
from tests.documents.helpers import make_doc

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("action", ["A", "R", "P"])
def test_each_action_is_stored_locally_and_audited(act, doc, tenant_a, action):
    d = doc()
    result = act(services.set_action, document=d, action=action, remarks="checked" if action != "A" else "")
    assert result.changed
    assert result.local_action == action
    assert refreshed(d).local_action == action
    assert d.local_updated_at is not None
    [event] = events(tenant_a)
    assert event.object_id == str(d.pk)
    assert event.changes["local_action"] == [None, action]


def test_reset_sends_no_action_when_the_portal_has_an_action(act, doc):
    d = doc(portal_action="A")
    act(services.set_action, document=d, action="N")
    assert refreshed(d).local_action == "N"


def test_change_then_reset_before_push_leaves_nothing_to_push(act, doc, tenant_a):
    d = doc()
    act(services.set_action, document=d, action="R", remarks="wrong rate")
    assert refreshed(d).local_action == "R"
    assert d.local_remarks == "wrong rate"
    act(services.set_action, document=d, action="N")
    assert refreshed(d).local_action is None
    assert d.local_remarks == ""
    assert [e.changes["local_action"] for e in events(tenant_a)] == [[None, "R"], ["R", None]]


def test_action_equal_to_the_portal_clears_the_local_action(act, doc):
    d = doc(portal_action="A", local_action="R")
    result = act(services.set_action, document=d, action="A")
    assert result.changed
    assert result.local_action is None
    assert result.effective_action == "A"


def test_same_action_again_changes_nothing_and_records_nothing(act, doc, tenant_a):
    d = doc()
    act(services.set_action, document=d, action="A")
    again = act(services.set_action, document=d, action="A")
    assert not again.changed
    assert len(events(tenant_a)) == 1


@pytest.mark.parametrize(
    "fields, action, declaration, code",
    [
        ({"pending_blocked": True}, "P", None, "pending_blocked_by_portal"),
        ({"section": "b2bcn", "twob_period": SEP}, "P", None, "pending_not_allowed"),
        ({"section": "b2bcn"}, "A", {"itc_red_req": "Y", "decl_igst": "99999"}, "declaration_exceeds_tax"),
        ({"section": "b2bcn"}, "A", {"decl_cgst": "10", "decl_sgst": "20"}, "declaration_exceeds_tax"),
        ({"section": "b2b"}, "A", {"itc_red_req": "N"}, "declaration_not_applicable"),
        ({"section": "b2bcn", "twob_period": SEP}, "A", {"itc_red_req": "N"}, "declaration_before_cutover"),
    ],
)
def test_refusals_name_the_rule_and_leave_the_document_unchanged(
    act, doc, tenant_a, fields, action, declaration, code
):
    d = doc(**fields)
    with pytest.raises(ActionRefused) as exc:
        act(services.set_action, document=d, action=action, declaration=declaration)
    assert exc.value.code == code
    assert refreshed(d).local_action is None
    assert events(tenant_a) == []


def test_pending_is_allowed_for_a_credit_note_of_the_open_period_only_for_one_period(act, doc):
    current = timezone.localdate().replace(day=1)
    assert (
        act(services.set_action, document=doc(section="b2bcn", twob_period=current), action="P").local_action
        == "P"
    )
    with pytest.raises(ActionRefused) as exc:
        act(services.set_action, document=doc(section="b2bcn", twob_period=OCT), action="P")
    assert exc.value.code == "pending_deadline_passed"  # Oct-2025: pending only until 20-12-2025


def test_declaration_on_a_credit_note_is_stored_partial_with_amounts_full_without(act, doc):
    partial = doc(section="b2bcn", igst=Decimal("1800.00"))
    act(
        services.set_action,
        document=partial,
        action="A",
        declaration={"itc_red_req": "Y", "decl_igst": "500"},
    )
    assert refreshed(partial).local_itc_red_req == "Y"
    assert partial.local_decl_igst == Decimal("500.00")
    full = doc(section="b2bcn")
    act(services.set_action, document=full, action="A", declaration={"itc_red_req": "Y"})
    assert refreshed(full).local_itc_red_req == "Y"
    assert full.local_decl_igst is None


def test_after_gstr3b_is_filed_the_action_can_no_longer_change(act, doc, reg_a1, tenant_a):
    d = doc(portal_action="A")
    with tenant_scope(tenant_a):
        returns_services.mark_gstr3b_filed(
            tenant=tenant_a,
            actor=Actor.system("t"),
            registration=reg_a1,
            period=OCT,
            filed_on=dt.date(2025, 11, 20),
        )
    with pytest.raises(ActionRefused) as exc:
        act(services.set_action, document=d, action="R")
    assert exc.value.code == "left_ims"


@pytest.mark.parametrize(
    "action, remarks, declaration, code",
    [
        ("X", "", None, "invalid_action"),
        ("N", "why", None, "remarks_with_reset"),
        ("R", "", {"itc_red_req": "Y"}, "declaration_accept_only"),
        ("A", "x" * 501, None, "remarks_too_long"),
    ],
)
def test_invalid_requests_are_field_errors(act, doc, action, remarks, declaration, code):
    with pytest.raises(ActionError) as exc:
        act(services.set_action, document=doc(), action=action, remarks=remarks, declaration=declaration)
    assert exc.value.code == code
    assert exc.value.field


def test_viewer_cannot_act(act, doc, tenant_a, bob):
    with pytest.raises(ActionForbidden):
        act(
            services.set_action,
            document=doc(),
            action="A",
            membership=Membership.objects.get(tenant=tenant_a, user=bob),
        )


# --- bulk --------------------------------------------------------------------------------------------------------


def bulk(act, user, **kwargs):
    return act(services.bulk_set_action, user=user, **kwargs)


def test_bulk_by_ids_applies_the_allowed_and_lists_the_refused_untouched(act, doc, alice, tenant_a):
    ok = [doc(), doc(section="b2bdn")]
    blocked = doc(pending_blocked=True)
    result = bulk(act, alice, ids=[d.pk for d in ok] + [blocked.pk], action="P", remarks="await credit note")
    assert (result.status, result.applied, result.refused_count) == ("done", 2, 1)
    assert result.refused == [
        {
            "id": blocked.pk,
            "number": blocked.doc_number,
            "section": "b2b",
            "code": "pending_blocked_by_portal",
            "field": "action",
            "message": result.refused[0]["message"],
        }
    ]
    assert refreshed(blocked).local_action is None
    assert {refreshed(d).local_action for d in ok} == {"P"}
    per_doc = events(tenant_a)
    assert sorted(int(e.object_id) for e in per_doc) == sorted(d.pk for d in ok)
    [summary] = events(tenant_a, "ims.bulk_action")
    assert summary.metadata["applied"] == 2
    assert summary.metadata["refused"] == 1
    assert summary.seq == per_doc[-1].seq + 1  # written together, summary last


def test_bulk_by_filter_reruns_the_filter_on_the_server(act, doc, alice, reg_a1):
    cns = [doc(section="b2bcn"), doc(section="b2bcn")]
    other = doc(section="b2b")
    result = bulk(act, alice, filters="section=b2bcn&cursor=abc", action="R")
    assert result.applied == 2
    assert {refreshed(d).local_action for d in cns} == {"R"}
    assert refreshed(other).local_action is None


def test_bulk_with_an_invalid_filter_is_a_field_error(act, alice):
    with pytest.raises(ActionError) as exc:
        bulk(act, alice, filters={"period": "13-2025"}, action="A")
    assert exc.value.field == "period"


def test_a_failing_apply_leaves_no_change_and_no_events(act, doc, alice, tenant_a, monkeypatch):
    d = doc()

    def broken(**kwargs):
        list(kwargs["events"])
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "record_many", broken)
    with pytest.raises(RuntimeError):
        bulk(act, alice, ids=[d.pk], action="A")
    assert refreshed(d).local_action is None
    assert events(tenant_a) == []
    with tenant_scope(tenant_a):
        assert not BulkActionRun.objects.exists()


def test_foreign_ids_smuggled_into_a_bulk_action_change_nothing(act, doc, tenant_b, reg_b1, charlie, alice):
    mine = doc()
    theirs = make_doc(reg_b1)
    with pytest.raises(DocumentsNotFound) as exc:
        bulk(
            act,
            charlie,
            tenant=tenant_b,
            actor=Actor.user(charlie),
            membership=Membership.objects.get(tenant=tenant_b, user=charlie),
            ids=[theirs.pk, mine.pk],
            action="R",
        )
    assert exc.value.ids == [mine.pk]
    assert refreshed(mine).local_action is None
    assert refreshed(theirs).local_action is None


def test_preparer_cannot_act_on_a_gstin_not_granted(act, doc, pat, tenant_a, reg_a1, reg_a2):
    granted = doc()
    not_granted = make_doc(reg_a2, twob_period=OCT)
    membership = Membership.objects.get(tenant=tenant_a, user=pat)
    with pytest.raises(DocumentsNotFound):
        bulk(
            act,
            pat,
            actor=Actor.user(pat),
            membership=membership,
            ids=[granted.pk, not_granted.pk],
            action="A",
        )
    assert refreshed(granted).local_action is None
    assert refreshed(not_granted).local_action is None
    # "all matching" for the preparer covers only the granted GSTIN
    result = bulk(act, pat, actor=Actor.user(pat), membership=membership, filters={}, action="A")
    assert result.applied == 1
    assert refreshed(not_granted).local_action is None


def test_viewer_cannot_take_a_bulk_action(act, doc, bob, tenant_a):
    with pytest.raises(ActionForbidden):
        bulk(
            act, bob, membership=Membership.objects.get(tenant=tenant_a, user=bob), ids=[doc().pk], action="A"
        )


def test_idempotency_key_replays_the_first_result_and_refuses_another_body(act, doc, alice, tenant_a):
    a, b = doc(), doc()
    first = bulk(act, alice, ids=[a.pk], action="A", idempotency_key="k-1")
    again = bulk(act, alice, ids=[a.pk], action="A", idempotency_key="k-1")
    assert again.run_id == first.run_id
    assert again.applied == 1
    assert len(events(tenant_a)) == 1
    assert len(events(tenant_a, "ims.bulk_action")) == 1
    with pytest.raises(IdempotencyConflict):
        bulk(act, alice, ids=[b.pk], action="A", idempotency_key="k-1")
    assert refreshed(b).local_action is None


def test_large_bulk_action_is_queued_and_applied_by_the_task_in_chunks(act, doc, alice, tenant_a, settings):
    settings.IMS_BULK_ACTION_SYNC_MAX = 3
    settings.IMS_BULK_ACTION_CHUNK = 2
    docs = [doc() for _ in range(4)] + [doc(pending_blocked=True)]
    result = bulk(act, alice, filters={}, action="P")
    assert result.status == "queued"
    assert result.total == 5
    assert events(tenant_a) == []
    assert run_bulk_action_task(result.run_id) == "done"
    with tenant_scope(tenant_a):
        run = BulkActionRun.objects.get(pk=result.run_id)
    assert (run.applied, run.refused_count, run.processed, run.percent) == (4, 1, 5, 100)
    assert {refreshed(d).local_action for d in docs[:4]} == {"P"}
    assert len(events(tenant_a)) == 4
    assert len(events(tenant_a, "ims.bulk_action")) == 1
    assert run_bulk_action_task(result.run_id) == "done"
    assert len(events(tenant_a)) == 4  # redelivery: no-op


def test_preview_counts_by_section_and_outcome_with_the_itc_effect(act, doc, alice):
    doc(igst=Decimal("100.00"))
    doc(igst=Decimal("50.00"), local_action="A")
    doc(section="b2bcn", igst=Decimal("30.00"))
    doc(section="b2bcn", twob_period=SEP, igst=Decimal("7.00"))
    preview = act(bulk_preview, user=alice, filters={}, action="A")
    assert preview.total == 4
    assert preview.outcomes == {"apply": 3, "already": 1, "refused": 0}
    assert preview.sections["b2b"] == {"apply": 1, "already": 1, "refused": 0}
    assert preview.itc["A"]["igst"] == Decimal("100.00") - Decimal("37.00")
    pending = act(bulk_preview, user=alice, filters={}, action="P")
    assert {code: r["count"] for code, r in pending.refusals.items()} == {
        "pending_not_allowed": 1,
        "pending_deadline_passed": 1,
    }  # Sep-2025 CN; Oct-2025 CN past 20-12-2025
    assert pending.sections["b2bcn"] == {"apply": 0, "already": 0, "refused": 2}
    assert pending.itc["P"]["igst"] == Decimal("150.00")
