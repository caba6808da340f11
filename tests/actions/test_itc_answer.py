"""The answer to "Whether ITC needs to be reduced?" on Accept (docs/rules/ims-actions.md §4.4), through the services,
the API and the pages: Yes by default one by one, one answer for a batch with single documents overridden, a missing
answer refused where the caller gives no default, and an accepted record downloaded without one read as full."""

from decimal import Decimal

import pytest

from actions import services
from actions.errors import ActionError, ActionRefused
from actions.models import BulkActionRun
from actions.selectors import bulk_preview
from tenancy.scoping import tenant_scope
from tests.actions.conftest import SEP, events, refreshed
from tests.tokens import api_token

pytestmark = pytest.mark.django_db
BULK = "/api/v1/t/acme/actions/bulk/"


def cn(doc, **fields):
    fields.setdefault("igst", Decimal("1800.00"))
    return doc(section="b2bcn", **fields)


def bulk(act, user, **kwargs):
    return act(services.bulk_set_action, user=user, **kwargs)


@pytest.fixture
def api(client):
    def as_user(user):
        token = api_token(user)

        def post(path, body, **headers):
            return client.post(
                path,
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {token.key}",
                **headers,
            )

        return post

    return as_user


# --- one by one -------------------------------------------------------------------------------------------------


def test_accepting_a_credit_note_answers_yes_by_default(act, doc):
    note = cn(doc)
    act(services.set_action, document=note, action="A")
    assert refreshed(note).local_itc_red_req == "Y"


def test_the_default_yes_is_a_full_reduction_without_amounts(act, doc):
    note = cn(doc)
    act(services.set_action, document=note, action="A")
    assert refreshed(note).local_decl_igst is None


def test_the_answer_is_audited_with_the_accept(act, doc, tenant_a):
    note = cn(doc)
    act(services.set_action, document=note, action="A")
    [event] = events(tenant_a)
    assert event.changes["local_itc_red_req"] == ["", "Y"]


def test_without_a_default_an_accept_of_a_credit_note_is_refused(act, doc):
    note = cn(doc)
    with pytest.raises(ActionRefused) as refused:
        act(services.set_action, document=note, action="A", itc_red_default=None)
    assert refused.value.code == "declaration_required"


def test_a_refused_accept_changes_nothing(act, doc):
    note = cn(doc)
    with pytest.raises(ActionRefused):
        act(services.set_action, document=note, action="A", itc_red_default=None)
    assert refreshed(note).local_action is None


def test_an_invoice_is_accepted_without_an_answer(act, doc):
    invoice = doc()
    act(services.set_action, document=invoice, action="A", itc_red_default=None)
    assert refreshed(invoice).local_itc_red_req == ""


def test_a_credit_note_of_a_period_before_the_cut_over_takes_no_answer(act, doc):
    note = cn(doc, twob_period=SEP)
    act(services.set_action, document=note, action="A")
    assert refreshed(note).local_itc_red_req == ""


def test_accepting_again_a_credit_note_the_portal_holds_accepted_without_an_answer_leaves_nothing_to_push(
    act, doc
):
    note = cn(doc, portal_action="A")
    result = act(services.set_action, document=note, action="A")
    assert result.local_action is None


def test_answering_no_on_a_credit_note_accepted_without_an_answer_is_pushed(act, doc):
    note = cn(doc, portal_action="A")
    act(services.set_action, document=note, action="A", declaration={"itc_red_req": "N"})
    assert refreshed(note).local_itc_red_req == "N"


def test_a_locked_answer_keeps_the_portals(act, doc):
    note = cn(doc, itc_red_blocked=True, portal_itc_red_req="N")
    act(services.set_action, document=note, action="A")
    assert refreshed(note).local_itc_red_req == "N"


def test_api_accept_of_a_credit_note_answers_yes_by_default(api, alice, doc):
    note = cn(doc)
    r = api(alice)(f"/api/v1/t/acme/documents/{note.pk}/action/", {"action": "A"})
    assert r.status_code == 200, r.content
    assert refreshed(note).local_itc_red_req == "Y"


def test_api_accept_with_no_answer_declares_nil(api, alice, doc):
    note = cn(doc)
    api(alice)(f"/api/v1/t/acme/documents/{note.pk}/action/", {"action": "A", "itc_red_req": "N"})
    assert refreshed(note).local_itc_red_req == "N"


# --- in bulk ------------------------------------------------------------------------------------------------------


def test_a_bulk_accept_answers_yes_for_the_credit_notes(act, doc, alice):
    note = cn(doc)
    bulk(act, alice, ids=[note.pk, doc().pk], action="A")
    assert refreshed(note).local_itc_red_req == "Y"


def test_a_bulk_accept_gives_invoices_no_answer(act, doc, alice):
    invoice = doc()
    bulk(act, alice, ids=[cn(doc).pk, invoice.pk], action="A", itc_red_default="N")
    assert refreshed(invoice).local_itc_red_req == ""


def test_the_batch_answer_no_applies_to_every_credit_note(act, doc, alice):
    notes = [cn(doc), cn(doc)]
    bulk(act, alice, ids=[n.pk for n in notes], action="A", itc_red_default="N")
    assert [refreshed(n).local_itc_red_req for n in notes] == ["N", "N"]


def test_the_batch_answer_refuses_nothing(act, doc, alice):
    ids = [cn(doc).pk, doc().pk, cn(doc, twob_period=SEP).pk, doc(section="b2bdn").pk]
    result = bulk(act, alice, ids=ids, action="A", itc_red_default="N")
    assert result.refused_count == 0


def test_a_bulk_accept_without_an_answer_refuses_the_credit_notes(act, doc, alice):
    result = bulk(act, alice, ids=[cn(doc).pk, doc().pk], action="A", itc_red_default=None)
    assert result.refused[0]["code"] == "declaration_required"


def test_a_document_overridden_in_the_batch_gets_its_own_partial_answer(act, doc, alice):
    own, other = cn(doc), cn(doc)
    overrides = {own.pk: {"itc_red_req": "Y", "decl_igst": "500.00"}}
    bulk(act, alice, ids=[own.pk, other.pk], action="A", overrides=overrides)
    assert refreshed(own).local_decl_igst == Decimal("500.00")


def test_the_others_of_an_overridden_batch_take_the_batch_answer(act, doc, alice):
    own, other = cn(doc), cn(doc)
    bulk(
        act,
        alice,
        ids=[own.pk, other.pk],
        action="A",
        itc_red_default="N",
        overrides={own.pk: {"itc_red_req": "Y"}},
    )
    assert (refreshed(own).local_itc_red_req, refreshed(other).local_itc_red_req) == ("Y", "N")


def test_overrides_count_in_the_result(act, doc, alice):
    own, other = cn(doc), cn(doc)
    result = bulk(act, alice, ids=[own.pk, other.pk], action="A", overrides={own.pk: {"itc_red_req": "N"}})
    assert result.applied == 2


def test_an_override_outside_the_selection_refuses_the_whole_request(act, doc, alice):
    inside, outside = cn(doc), cn(doc)
    with pytest.raises(ActionError) as refused:
        bulk(act, alice, ids=[inside.pk], action="A", overrides={outside.pk: {"itc_red_req": "N"}})
    assert refused.value.code == "not_in_selection"


def test_an_override_outside_the_selection_changes_nothing(act, doc, alice):
    inside, outside = cn(doc), cn(doc)
    with pytest.raises(ActionError):
        bulk(act, alice, ids=[inside.pk], action="A", overrides={outside.pk: {"itc_red_req": "N"}})
    assert refreshed(inside).local_action is None


def test_overrides_go_with_accept_only(act, doc, alice):
    note = cn(doc)
    with pytest.raises(ActionError) as refused:
        bulk(act, alice, ids=[note.pk], action="R", overrides={note.pk: {"itc_red_req": "N"}})
    assert refused.value.field == "overrides"


def test_an_invalid_override_names_its_document(act, doc, alice):
    note = cn(doc)
    with pytest.raises(ActionError) as refused:
        bulk(act, alice, ids=[note.pk], action="A", overrides={note.pk: {"itc_red_req": "maybe"}})
    assert str(note.pk) in refused.value.message


def test_an_override_beyond_the_documents_tax_is_refused_and_listed(act, doc, alice):
    note = cn(doc)
    result = bulk(act, alice, ids=[note.pk], action="A", overrides={note.pk: {"decl_igst": "99999"}})
    assert result.refused[0]["code"] == "declaration_exceeds_tax"


def test_the_preview_counts_the_overridden_documents_under_their_own_answer(act, doc, alice):
    own, other = cn(doc), cn(doc)
    preview = act(
        bulk_preview,
        user=alice,
        ids=[own.pk, other.pk],
        action="A",
        overrides={own.pk: {"decl_igst": "99999"}},
    )
    assert preview.outcomes == {"apply": 1, "already": 0, "refused": 1}


def test_a_queued_bulk_accept_applies_the_overrides_and_then_the_batch_answer(act, doc, alice, settings):
    settings.IMS_BULK_ACTION_SYNC_MAX = 1
    settings.IMS_BULK_ACTION_CHUNK = 1
    own, others = cn(doc), [cn(doc), cn(doc)]
    result = bulk(
        act,
        alice,
        ids=[own.pk, *(o.pk for o in others)],
        action="A",
        overrides={own.pk: {"itc_red_req": "N"}},
    )
    services.run_bulk_action(run_id=result.run_id)
    assert [refreshed(d).local_itc_red_req for d in (own, *others)] == ["N", "Y", "Y"]


def test_a_queued_bulk_accept_counts_every_document_once(act, doc, alice, settings, tenant_a):
    settings.IMS_BULK_ACTION_SYNC_MAX = 1
    settings.IMS_BULK_ACTION_CHUNK = 1
    own, others = cn(doc), [cn(doc), cn(doc)]
    result = bulk(
        act,
        alice,
        ids=[own.pk, *(o.pk for o in others)],
        action="A",
        overrides={own.pk: {"itc_red_req": "N"}},
    )
    services.run_bulk_action(run_id=result.run_id)
    with tenant_scope(tenant_a):
        run = BulkActionRun.objects.get(pk=result.run_id)
    assert (run.applied, run.processed, run.total) == (3, 3, 3)


def test_api_bulk_itc_red_req_is_the_batch_answer(api, alice, doc):
    note, invoice = cn(doc), doc()
    r = api(alice)(BULK, {"ids": [note.pk, invoice.pk], "action": "A", "itc_red_req": "N"})
    assert r.status_code == 200, r.content
    assert r.json()["refused_count"] == 0


def test_api_bulk_batch_answer_reaches_the_credit_note(api, alice, doc):
    note, invoice = cn(doc), doc()
    api(alice)(BULK, {"ids": [note.pk, invoice.pk], "action": "A", "itc_red_req": "N"})
    assert refreshed(note).local_itc_red_req == "N"


def test_api_bulk_overrides(api, alice, doc):
    own, other = cn(doc), cn(doc)
    body = {
        "ids": [own.pk, other.pk],
        "action": "A",
        "overrides": {str(own.pk): {"itc_red_req": "Y", "decl_igst": 40}},
    }
    r = api(alice)(BULK, body)
    assert r.status_code == 200, r.content
    assert refreshed(own).local_decl_igst == Decimal("40.00")


def test_api_bulk_preview_with_overrides(api, alice, doc):
    own = cn(doc)
    body = {
        "ids": [own.pk],
        "action": "A",
        "preview": True,
        "overrides": {str(own.pk): {"decl_igst": "99999"}},
    }
    assert api(alice)(BULK, body).json()["outcomes"]["refused"] == 1


def test_api_bulk_overrides_outside_the_selection_are_400(api, alice, doc):
    inside, outside = cn(doc), cn(doc)
    body = {"ids": [inside.pk], "action": "A", "overrides": {str(outside.pk): {"itc_red_req": "N"}}}
    r = api(alice)(BULK, body)
    assert r.status_code == 400
    assert r.json()["code"] == "not_in_selection"


def test_api_bulk_same_key_with_other_overrides_is_a_conflict(api, alice, doc):
    own = cn(doc)
    first = {"ids": [own.pk], "action": "A"}
    api(alice)(BULK, first, HTTP_IDEMPOTENCY_KEY="k-1")
    r = api(alice)(
        BULK, {**first, "overrides": {str(own.pk): {"itc_red_req": "N"}}}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert r.status_code == 422


# --- pages ------------------------------------------------------------------------------------------------------


def test_the_document_page_asks_the_question_with_yes_chosen(client_for, alice, doc):
    note = cn(doc)
    html = client_for(alice).get(f"/t/acme/documents/{note.pk}/").content.decode()
    assert '<option value="full" selected>' in html


def test_the_document_page_does_not_ask_on_an_invoice(client_for, alice, doc):
    invoice = doc()
    html = client_for(alice).get(f"/t/acme/documents/{invoice.pk}/").content.decode()
    assert 'name="declaration"' not in html


def test_the_document_page_reads_a_missing_answer_on_an_accepted_credit_note_as_full(client_for, alice, doc):
    note = cn(doc, portal_action="A")
    html = client_for(alice).get(f"/t/acme/documents/{note.pk}/").content.decode()
    assert "read as a full reduction" in html


def test_the_bulk_confirmation_lists_the_credit_notes_to_answer(client_for, alice, doc):
    note, invoice = cn(doc), doc()
    data = {"ids": [note.pk, invoice.pk], "action": "A", "declaration": "full", "query": ""}
    html = client_for(alice).post("/t/acme/actions/confirm/", data).content.decode()
    assert f'name="ovr_{note.pk}"' in html


def test_the_bulk_confirmation_does_not_ask_about_invoices(client_for, alice, doc):
    note, invoice = cn(doc), doc()
    data = {"ids": [note.pk, invoice.pk], "action": "A", "declaration": "full", "query": ""}
    html = client_for(alice).post("/t/acme/actions/confirm/", data).content.decode()
    assert f'name="ovr_{invoice.pk}"' not in html


def test_the_bulk_confirmation_keeps_a_documents_own_answer(client_for, alice, doc):
    note = cn(doc)
    data = {"ids": [note.pk], "action": "A", "declaration": "full", "query": "", f"ovr_{note.pk}": "nil"}
    html = client_for(alice).post("/t/acme/actions/confirm/", data).content.decode()
    assert '<option value="nil" selected>' in html


def test_applying_the_confirmation_gives_the_overridden_document_its_answer(client_for, alice, doc):
    own, other = cn(doc), cn(doc)
    data = {
        "ids": [own.pk, other.pk],
        "action": "A",
        "declaration": "full",
        "query": "",
        f"ovr_{own.pk}": "nil",
    }
    client_for(alice).post("/t/acme/actions/apply/", data)
    assert (refreshed(own).local_itc_red_req, refreshed(other).local_itc_red_req) == ("N", "Y")


def test_a_partial_override_on_the_page_takes_its_amounts(client_for, alice, doc):
    own = cn(doc)
    data = {
        "ids": [own.pk],
        "action": "A",
        "declaration": "full",
        "query": "",
        f"ovr_{own.pk}": "partial",
        f"ovr_{own.pk}_decl_igst": "250",
    }
    client_for(alice).post("/t/acme/actions/apply/", data)
    assert refreshed(own).local_decl_igst == Decimal("250.00")


def test_a_partial_override_without_amounts_is_a_form_error(client_for, alice, doc):
    own = cn(doc)
    data = {"ids": [own.pk], "action": "A", "declaration": "full", "query": "", f"ovr_{own.pk}": "partial"}
    page = client_for(alice).post("/t/acme/actions/confirm/", data)
    assert page.status_code == 400


def test_the_batch_answer_no_from_the_bulk_bar_accepts_invoices_too(client_for, alice, doc):
    note, invoice = cn(doc), doc()
    data = {"ids": [note.pk, invoice.pk], "action": "A", "declaration": "nil", "query": ""}
    client_for(alice).post("/t/acme/actions/apply/", data)
    assert (refreshed(note).local_itc_red_req, refreshed(invoice).local_action) == ("N", "A")


def test_rejecting_a_credit_note_from_its_page_ignores_the_preset_yes(client_for, alice, doc):
    note = cn(doc)
    client_for(alice).post(f"/t/acme/actions/documents/{note.pk}/", {"action": "R", "declaration": "full"})
    assert refreshed(note).local_action == "R"
