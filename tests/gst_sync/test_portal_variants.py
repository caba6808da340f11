"""Today's portal, over real HTTP against the sandbox (docs/rules/portal-api.md §1.2, §2.1, §5;
docs/rules/ims-actions.md §4.4): GETCNT per goods_typ, block flags as booleans under both names, ItcAvailabilityCheck,
srcfilstatus "F", IMSSAV0054 on an Accept without itcRedReq and GTR2B-002 when the 2B was not generated."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from actions import services as actions
from audit.models import AuditEvent
from audit.services import Actor
from gst_sync import push, services
from gst_sync.client import Permanent, TwoBNotGenerated, errors
from gst_sync.files import imports
from gst_sync.files.formats import PortalFileError
from gst_sync.models import PushItem
from invoices.models import SupplierDocument
from returns import services as returns_services
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.tokens import api_token

from .conftest import CLIENT_ID, CLIENT_SECRET, RECIPIENT, connect_gstin, doc, save_body

ACTOR = Actor.system("tests")
VARIANTS = json.loads((Path(__file__).parent / "fixtures" / "ims_portal_variants.json").read_text())
VARIANTS = {k: v for k, v in VARIANTS.items() if not k.startswith("_")}
IMSSAV0054 = "Error! Please enter value for the column itcRedReq."
OCT = dt.date(2025, 10, 1)


def by_number(records, field="inum"):
    return {r[field]: r for r in records}


def saved(authed, section, record, action, **extra):
    ref = authed.save_actions(gstin=RECIPIENT, invdata={section: [save_body(record, action, **extra)]})
    return authed.wait_for_request(gstin=RECIPIENT, reference_id=ref)


def note(authed, number):
    return by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2bcn"), "nt_num")[number]


# --- GETCNT per goods_typ -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("goods_typ", "key"), [("ALL_OTH", "all_oth"), ("INV_SUPP_ISD", "inv_supp_isd"), ("IMP_GDS", "imp_gds")]
)
def test_counts_of_each_goods_typ_come_under_their_own_key(sandbox, authed, goods_typ, key):
    sandbox.seed(b2b=[doc("KA-1")])
    assert list(authed.get_ims_counts(gstin=RECIPIENT, goods_typ=goods_typ)) == [key]


def test_goods_typ_is_read_in_any_case(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1"), doc("KA-2", action="A")])
    assert authed.get_ims_counts(gstin=RECIPIENT, goods_typ="all_oth")["all_oth"]["b2b"]["accept"] == 1


def test_isd_counts_are_per_isd_section(sandbox, authed):
    counts = authed.get_ims_counts(gstin=RECIPIENT, goods_typ="INV_SUPP_ISD")["inv_supp_isd"]
    assert sorted(counts) == ["isd", "isda", "isdcn", "isdcna", "ttl_cnt"]


def test_an_unknown_goods_typ_is_refused_before_anything_is_sent(sandbox, authed):
    before = sandbox.stats()["by_action"].get("GETCNT", 0)
    with pytest.raises(Permanent):
        authed.get_ims_counts(gstin=RECIPIENT, goods_typ="GOODS")
    assert sandbox.stats()["by_action"].get("GETCNT", 0) == before


def test_all_counts_at_once(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    counts = authed.get_all_ims_counts(gstin=RECIPIENT)
    assert sorted(counts) == ["all_oth", "imp_gds", "inv_supp_isd"]


def test_all_counts_keep_each_types_numbers(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    assert authed.get_all_ims_counts(gstin=RECIPIENT)["all_oth"]["ttl_cnt"] == 1


# --- IMSSAV0054 ---------------------------------------------------------------------------------------------


def test_the_sandbox_refuses_an_accept_of_a_credit_note_without_itc_red_req(sandbox, authed):
    sandbox.seed(b2bcn=[doc("CN-1", section="b2bcn")])
    status = saved(authed, "b2bcn", note(authed, "CN-1"), "A")
    assert (status.errors[0].error_cd, status.errors[0].error_msg) == ("IMSSAV0054", IMSSAV0054)


def test_the_sandbox_takes_an_accept_of_a_credit_note_with_the_answer(sandbox, authed):
    sandbox.seed(b2bcn=[doc("CN-1", section="b2bcn")])
    assert saved(authed, "b2bcn", note(authed, "CN-1"), "A", itcRedReq="N").ok


def test_the_sandbox_takes_an_accept_of_a_credit_note_before_the_cut_over_without_the_answer(sandbox, authed):
    sandbox.seed(b2bcn=[doc("CN-1", section="b2bcn", period="092025")])
    assert saved(authed, "b2bcn", note(authed, "CN-1"), "A").ok


@pytest.mark.parametrize(("original_tax", "refused"), [("9000", True), ("3000", False), (None, True)])
def test_the_sandbox_asks_the_answer_of_a_downward_amendment_only(sandbox, authed, original_tax, refused):
    amendment = {**doc("INV-1A", section="b2ba", tax=("5000", "0", "0")), "oinum": "INV-1"}
    originals = [] if original_tax is None else [doc("INV-1", tax=(original_tax, "0", "0"))]
    sandbox.seed(b2b=originals, b2ba=[amendment])
    record = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2ba"))["INV-1A"]
    status = saved(authed, "b2ba", record, "A")
    assert (not status.ok) is refused


def test_a_locked_declaration_needs_no_answer(sandbox, authed):
    sandbox.seed(b2bcn=[{**doc("CN-1", section="b2bcn"), "isItcRedReqBlocked": True}])
    assert saved(authed, "b2bcn", note(authed, "CN-1"), "A").ok


def test_an_imssav0054_is_shown_with_a_clear_message():
    assert errors.record_message("IMSSAV0054", IMSSAV0054).startswith(
        "The portal refused this accept without the answer to whether ITC needs to be reduced"
    )


def test_other_record_errors_keep_the_portals_words():
    assert (
        errors.record_message("SBX-PENDBLK", "Pending action is not allowed")
        == "Pending action is not allowed"
    )


# --- block flags as booleans in the sandbox -----------------------------------------------------------------------


def test_a_boolean_pending_block_refuses_pending(sandbox, authed):
    sandbox.seed(b2b=[{**doc("KA-1"), "ispendactblocked": True}])
    record = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2b"))["KA-1"]
    assert saved(authed, "b2b", record, "P").errors[0].error_cd == "SBX-PENDBLK"


def test_the_legacy_pending_block_refuses_pending(sandbox, authed):
    rec = {**doc("KA-1"), "ispendactnallwd": "Y"}
    del rec["ispendactblocked"]
    sandbox.seed(b2b=[rec])
    record = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2b"))["KA-1"]
    assert saved(authed, "b2b", record, "P").errors[0].error_cd == "SBX-PENDBLK"


def test_a_boolean_remarks_block_refuses_remarks(sandbox, authed):
    sandbox.seed(b2b=[{**doc("KA-1"), "isRemarksBlocked": True}])
    record = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2b"))["KA-1"]
    assert saved(authed, "b2b", record, "R", remarks="no").errors[0].error_cd == "SBX-RMKBLK"


def test_a_boolean_false_block_allows_pending(sandbox, authed):
    sandbox.seed(b2b=[{**doc("KA-1"), "ispendactblocked": False}])
    record = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2b"))["KA-1"]
    assert saved(authed, "b2b", record, "P").ok


def test_a_locked_declaration_refuses_another_answer(sandbox, authed):
    sandbox.seed(b2bcn=[{**doc("CN-1", section="b2bcn", action="A"), "itcRedReqBlocked": True}])
    status = saved(authed, "b2bcn", note(authed, "CN-1"), "A", itcRedReq="N")
    assert status.errors[0].error_cd == "SBX-ITCRED"


def test_the_sandbox_serves_the_records_as_seeded(sandbox, authed):
    sandbox.seed(**VARIANTS)
    record = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2b"))["VAR-1"]
    assert (record["isRemarksBlocked"], record["ItcAvailabilityCheck"], record["srcfilstatus"]) == (
        True,
        "Y",
        "F",
    )


def test_a_record_filed_as_f_reaches_the_sandboxs_2b(sandbox, authed):
    sandbox.seed(b2b=[{**doc("KA-1"), "srcfilstatus": "F"}])
    data = authed.get_2b(gstin=RECIPIENT, period="102025")
    assert [i["inum"] for s in data["docdata"]["b2b"] for i in s["inv"]] == ["KA-1"]


# --- GTR2B-002 -----------------------------------------------------------------------------------------------


def test_a_2b_not_generated_after_a_late_3b_is_gtr2b_002(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    sandbox.faults(late_3b_periods=["102025"])
    with pytest.raises(TwoBNotGenerated) as caught:
        authed.get_2b(gstin=RECIPIENT, period="102025")
    assert caught.value.code == "GTR2B-002"


def test_gtr2b_002_says_why_and_what_to_do(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    sandbox.faults(late_3b_periods=["102025"])
    with pytest.raises(TwoBNotGenerated) as caught:
        authed.get_2b(gstin=RECIPIENT, period="102025")
    assert "filed late: generate it now" in caught.value.message


def test_after_generating_it_the_2b_is_there(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    sandbox.faults(late_3b_periods=["102025"])
    ref = authed.gen_2b(gstin=RECIPIENT, period="102025")
    authed.wait_for_2b(gstin=RECIPIENT, reference_id=ref)
    assert authed.get_2b(gstin=RECIPIENT, period="102025")["docdata"]["b2b"]


# --- through the product -------------------------------------------------------------------------------------


@pytest.fixture
def connected(tenant_a, portal):
    with tenant_scope(tenant_a):
        reg = tenancy_services.add_registration(
            tenant=tenant_a, actor=ACTOR, gstin=RECIPIENT, legal_name="Zenith"
        )
    connect_gstin(tenant_a, reg, portal, ACTOR)
    return reg


def sync(tenant, reg, portal, *sections):
    for section in sections:
        with tenant_scope(tenant):
            (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=[section])
        services.run_sync(run.pk, adapter=portal)


def documents(tenant) -> dict[str, SupplierDocument]:
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.all()}


@pytest.fixture
def variants(tenant_a, connected, portal, sandbox):
    sandbox.seed(**VARIANTS)
    sync(tenant_a, connected, portal, "b2b", "b2bcn")
    return documents(tenant_a)


@pytest.mark.parametrize(
    ("number", "field", "expected"),
    [
        ("VAR-1", "remarks_blocked", True),
        ("VAR-1", "pending_blocked", False),
        ("VAR-2", "pending_blocked", True),  # the legacy name
        ("VCN-1", "pending_blocked", True),
        ("VCN-2", "itc_red_blocked", True),  # the Offline Tool fixture's name
        ("VCN-1", "itc_red_blocked", False),
        ("VAR-1", "itc_availability_check", "Y"),
        ("VAR-2", "itc_availability_check", "N"),
        ("VCN-1", "itc_availability_check", None),
        ("VAR-1", "supplier_filing_status", "filed"),
        ("VCN-3", "supplier_filing_status", "not_filed"),
    ],
)
def test_a_sync_stores_every_spelling(variants, number, field, expected):
    assert getattr(variants[number], field) == expected


def test_the_document_page_shows_the_itc_availability_check(variants, alice, client_for):
    html = client_for(alice).get(f"/t/acme/documents/{variants['VAR-1'].pk}/").content.decode()
    assert 'id="itc-availability-check">Y' in html


def test_a_synced_credit_note_accepted_without_an_answer_reads_as_full(variants, alice, client_for):
    html = client_for(alice).get(f"/t/acme/documents/{variants['VCN-1'].pk}/").content.decode()
    assert "read as a full reduction" in html


def test_a_second_sync_of_the_same_variants_changes_nothing(tenant_a, connected, portal, variants):
    before = {n: d.content_hash for n, d in variants.items()}
    sync(tenant_a, connected, portal, "b2b", "b2bcn")
    assert {n: d.content_hash for n, d in documents(tenant_a).items()} == before


def accept(tenant, alice, document, **kwargs):
    with tenant_scope(tenant):
        return actions.set_action(
            tenant=tenant,
            actor=Actor.user(alice),
            membership=Membership.objects.get(tenant=tenant, user=alice),
            document=document,
            action="A",
            **kwargs,
        )


def run_queue(tenant, reg, portal):
    with tenant_scope(tenant):
        batches = push.queue_push(tenant=tenant, actor=ACTOR, registration=reg)
    for batch in batches:
        push.run_push(batch.pk, adapter=portal)
    return batches


def test_a_credit_note_accepted_here_is_accepted_on_the_portal(tenant_a, connected, portal, sandbox, alice):
    sandbox.seed(b2bcn=[doc("CN-1", section="b2bcn")])
    sync(tenant_a, connected, portal, "b2bcn")
    accept(tenant_a, alice, documents(tenant_a)["CN-1"])
    run_queue(tenant_a, connected, portal)
    assert (note(portal, "CN-1")["action"], note(portal, "CN-1")["itcRedReq"]) == ("A", "Y")


def test_a_credit_note_accepted_here_with_no_reduction_reaches_the_portal_as_n(
    tenant_a, connected, portal, sandbox, alice
):
    sandbox.seed(b2bcn=[doc("CN-1", section="b2bcn")])
    sync(tenant_a, connected, portal, "b2bcn")
    accept(tenant_a, alice, documents(tenant_a)["CN-1"], declaration={"itc_red_req": "N"})
    run_queue(tenant_a, connected, portal)
    assert note(portal, "CN-1")["itcRedReq"] == "N"


@pytest.fixture
def refused_accept(tenant_a, connected, portal, sandbox, alice):
    """An amendment that was upward when synced (no answer needed) but is downward on the portal when pushed: the
    supplier amended the original in between. The portal refuses the accept with IMSSAV0054."""
    amendment = {**doc("INV-1A", section="b2ba", tax=("5000", "0", "0")), "oinum": "INV-1"}
    sandbox.seed(b2b=[doc("INV-1", tax=("3000", "0", "0"))], b2ba=[amendment])
    sync(tenant_a, connected, portal, "b2b", "b2ba")
    sandbox.seed(b2b=[doc("INV-1", tax=("9000", "0", "0"))], b2ba=[amendment])
    accept(tenant_a, alice, documents(tenant_a)["INV-1A"])
    run_queue(tenant_a, connected, portal)
    return documents(tenant_a)["INV-1A"]


def test_a_push_refused_with_imssav0054_keeps_the_code(tenant_a, refused_accept):
    with tenant_scope(tenant_a):
        assert PushItem.objects.get(document=refused_accept).error_code == "IMSSAV0054"


def test_a_push_refused_with_imssav0054_keeps_the_local_accept(refused_accept):
    assert refused_accept.local_action == "A"


def test_the_document_page_shows_the_imssav0054_message(refused_accept, alice, client_for):
    html = client_for(alice).get(f"/t/acme/documents/{refused_accept.pk}/").content.decode()
    assert "The portal refused this accept without the answer to whether ITC needs to be reduced" in html


@pytest.fixture
def unanswered(tenant_a, connected):
    """A credit note accepted before the answer was mandatory (no answer stored)."""
    return make_doc(connected, section="b2bcn", twob_period=OCT, local_action="A", local_itc_red_req="")


def test_an_accept_without_the_answer_is_never_sent(tenant_a, connected, portal, unanswered):
    assert run_queue(tenant_a, connected, portal) == []


def test_an_accept_without_the_answer_is_listed_as_held(tenant_a, connected, unanswered):
    with tenant_scope(tenant_a):
        batches = push.queue_push(tenant=tenant_a, actor=ACTOR, registration=connected)
    assert [doc_id for doc_id, _why in batches.held] == [unanswered.pk]


def test_an_accept_held_for_want_of_the_answer_says_so_on_the_document(tenant_a, connected, unanswered):
    with tenant_scope(tenant_a):
        push.queue_push(tenant=tenant_a, actor=ACTOR, registration=connected)
        event = AuditEvent.objects.get(action="ims.push_held")
    assert (event.object_id, event.metadata["code"]) == (str(unanswered.pk), "IMSSAV0054")


def test_the_offline_upload_refuses_an_accept_without_the_answer(tenant_a, connected, unanswered):
    with tenant_scope(tenant_a), pytest.raises(PortalFileError, match="say whether ITC needs to be reduced"):
        imports.offline_upload(tenant=tenant_a, registration=connected, kind="save")


def test_fetching_a_2b_the_portal_did_not_generate_says_why(tenant_a, connected, portal, sandbox):
    sandbox.seed(b2b=[doc("KA-1")])
    sandbox.faults(late_3b_periods=["102025"])
    with tenant_scope(tenant_a), pytest.raises(returns_services.TwobNotGenerated) as caught:
        returns_services.fetch_portal_2b(
            tenant=tenant_a, actor=ACTOR, registration=connected, period=OCT, adapter=portal
        )
    assert caught.value.code == "GTR2B-002"


def test_fetching_a_generated_2b_imports_it(tenant_a, connected, portal, sandbox):
    sandbox.seed(b2b=[doc("KA-1")])
    with tenant_scope(tenant_a):
        result = returns_services.fetch_portal_2b(
            tenant=tenant_a, actor=ACTOR, registration=connected, period=OCT, adapter=portal
        )
    assert [d.doc_number for d in result.parsed.docs] == ["KA-1"]


def test_the_offline_upload_page_names_the_accept_without_the_answer(
    connected, unanswered, alice, client_for
):
    page = client_for(alice).get(f"/t/acme/portal/files/{connected.pk}/offline-upload.json?kind=save")
    assert unanswered.doc_number in page.content.decode()


def test_the_offline_upload_api_refuses_an_accept_without_the_answer(connected, unanswered, alice, client):
    token = api_token(alice)
    r = client.get(
        f"/api/v1/t/acme/registrations/{connected.pk}/offline-upload/?kind=save",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert r.status_code == 422


def test_pushing_from_the_portal_page_warns_of_an_accept_without_the_answer(
    connected, unanswered, alice, client_for
):
    page = client_for(alice).post(f"/t/acme/portal/{connected.pk}/push/", follow=True)
    assert "not sent: say whether ITC needs to be reduced" in page.content.decode()


def test_pushing_through_the_api_lists_an_accept_without_the_answer(connected, unanswered, alice, client):
    token = api_token(alice)
    r = client.post(
        f"/api/v1/t/acme/registrations/{connected.pk}/push/", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert [h["document_id"] for h in r.json()["held"]] == [unanswered.pk]


def test_the_2b_page_says_why_the_portal_has_no_2b_and_offers_to_generate_it(
    tenant_a, connected, sandbox, alice, client_for, settings
):
    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    sandbox.seed(b2b=[doc("KA-1")])
    sandbox.faults(late_3b_periods=["102025"])
    page = client_for(alice).post(f"/t/acme/returns/2b/{connected.pk}/102025/fetch/", follow=True)
    html = page.content.decode()
    assert "GSTR-3B of the previous period was filed late" in html
    assert "Generate it now on the portal" in html
