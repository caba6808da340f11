"""The real GSTN client against the sandbox portal over real HTTP on loopback."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest

from gst_sync.client import (
    GstnAdapter,
    IntegrityError,
    Permanent,
    PortalAdapter,
    Reauth,
    Transient,
    crypto,
)
from tests.gst_sync.conftest import CLIENT_SECRET, OTP, RECIPIENT, USERNAME, doc, make_config, save_body

SUPPLIER = "29AAJFY9012N1ZE"


def by_number(records, field="inum"):
    return {r[field]: r for r in records}


def test_adapter_satisfies_the_portal_adapter_protocol(adapter):
    assert isinstance(adapter, PortalAdapter)


def test_otp_authentication_opens_a_session(adapter):
    adapter.request_otp(gstin=RECIPIENT, username=USERNAME)
    session = adapter.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
    assert session.gstin == RECIPIENT
    assert len(session.sek) == 32
    assert session.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)
    assert adapter.session(RECIPIENT) is session


def test_wrong_otp_is_refused_with_a_clear_message(adapter):
    adapter.request_otp(gstin=RECIPIENT, username=USERNAME)
    with pytest.raises(Permanent) as exc:
        adapter.authenticate(gstin=RECIPIENT, username=USERNAME, otp="000000")
    assert exc.value.code == "AUTH4034"
    assert "OTP" in exc.value.message
    assert adapter.session(RECIPIENT) is None


def test_wrong_gsp_client_secret_is_refused(sandbox):
    with GstnAdapter(make_config(sandbox, client_secret="nope")) as client, pytest.raises(Permanent):
        client.request_otp(gstin=RECIPIENT, username=USERNAME)


def test_calls_without_a_session_ask_for_authentication(adapter):
    with pytest.raises(Reauth):
        adapter.get_ims_documents(gstin=RECIPIENT, section="b2b")


def test_getinv_returns_the_section_records(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1"), doc("KA-2", action="A")], b2bcn=[doc("CN-1", section="b2bcn")])
    records = authed.get_ims_documents(gstin=RECIPIENT, section="B2B")
    assert set(by_number(records)) == {"KA-1", "KA-2"}
    assert by_number(records)["KA-2"]["action"] == "A"
    assert by_number(records)["KA-1"]["txval"] == 50000
    notes = authed.get_ims_documents(gstin=RECIPIENT, section="b2bcn")
    assert [r["nt_num"] for r in notes] == ["CN-1"]


def test_empty_section_is_an_empty_list(sandbox, authed):
    sandbox.seed(b2bdna=[])
    assert authed.get_ims_documents(gstin=RECIPIENT, section="DNA") == []


def test_large_getinv_goes_through_token_and_filedet_parts_transparently(sandbox, authed):
    sandbox.seed(b2b=[doc(f"BIG-{n:03d}") for n in range(23)])
    sandbox.faults(large_threshold=5, records_per_file=4, filedet_not_ready=2)
    records = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")
    assert sorted(by_number(records)) == [f"BIG-{n:03d}" for n in range(23)]
    stats = sandbox.stats()["by_action"]
    assert stats["FILEDET"] == 3  # two "not ready" answers (RTN_24), then the file list
    assert stats["GETINV"] == 1


def test_counts_per_section_and_action(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1"), doc("KA-2", action="A"), doc("KA-3", action="R")])
    counts = authed.get_ims_counts(gstin=RECIPIENT)
    assert counts["all_oth"]["b2b"] == {"accept": 1, "reject": 1, "pending": 0, "noaction": 1}


def test_save_is_processed_asynchronously_and_changes_the_action(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1"), doc("KA-2")])
    record = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2b"))["KA-1"]
    ref = authed.save_actions(
        gstin=RECIPIENT, invdata={"b2b": [save_body(record, "R", remarks="Not received")]}
    )
    assert authed.request_status(gstin=RECIPIENT, reference_id=ref).status == "IP"
    status = authed.wait_for_request(gstin=RECIPIENT, reference_id=ref)
    assert (status.status, status.proc_cnt, status.err_cnt, status.ok) == ("P", 1, 0, True)
    after = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2b"))
    assert after["KA-1"]["action"] == "R"
    assert after["KA-1"]["remarks"] == "Not received"
    assert after["KA-2"]["action"] == "N"


def test_reset_returns_a_record_to_no_action(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1", action="A")])
    record = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]
    ref = authed.reset_actions(gstin=RECIPIENT, invdata={"b2b": [save_body(record, None)]})
    assert authed.wait_for_request(gstin=RECIPIENT, reference_id=ref).status == "P"
    assert authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]["action"] == "N"


def test_pending_on_a_blocked_record_is_reported_per_record(sandbox, authed):
    sandbox.seed(b2bcn=[doc("CN-BLK", section="b2bcn", blocked="Y"), doc("CN-OK", section="b2bcn")])
    notes = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2bcn"), "nt_num")
    ref = authed.save_actions(
        gstin=RECIPIENT,
        invdata={
            "b2bcn": [
                save_body(notes["CN-BLK"], "P"),
                save_body(notes["CN-OK"], "P"),
            ]
        },
    )
    status = authed.wait_for_request(gstin=RECIPIENT, reference_id=ref)
    assert (status.status, status.proc_cnt, status.err_cnt) == ("PE", 1, 1)
    [error] = status.errors
    assert error.section == "b2bcn"
    assert error.stin == SUPPLIER
    assert error.inv[0]["nt_num"] == "CN-BLK"
    assert "Pending" in error.error_msg
    after = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2bcn"), "nt_num")
    assert (after["CN-BLK"]["action"], after["CN-OK"]["action"]) == ("N", "P")


def test_prev_status_mismatch_is_imssav0010(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1", action="A")])
    record = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]
    stale = save_body(record, "R", prev_status="N")
    ref = authed.save_actions(gstin=RECIPIENT, invdata={"b2b": [stale]})
    status = authed.wait_for_request(gstin=RECIPIENT, reference_id=ref)
    assert status.status == "PE"
    assert [e.error_cd for e in status.errors] == ["IMSSAV0010"]
    assert status.errors[0].inv == [{"rtnprd": "102025", "inum": "KA-1"}]
    assert authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]["action"] == "A"


def test_supplier_edit_between_download_and_save_is_imssav0010(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1", action="A")])
    record = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]
    sandbox.faults(supplier_edit={"gstin": RECIPIENT, "section": "b2b", "number": "KA-1"})
    ref = authed.save_actions(gstin=RECIPIENT, invdata={"b2b": [save_body(record, "R")]})
    status = authed.wait_for_request(gstin=RECIPIENT, reference_id=ref)
    assert [e.error_cd for e in status.errors] == ["IMSSAV0010"]
    fresh = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]
    assert fresh["action"] == "N"
    assert fresh["hash"] != record["hash"]
    ref = authed.save_actions(gstin=RECIPIENT, invdata={"b2b": [save_body(fresh, "R")]})
    assert authed.wait_for_request(gstin=RECIPIENT, reference_id=ref).status == "P"


def test_itc_reduction_declaration_is_validated(sandbox, authed):
    cn = dict(section="b2bcn", stin="27AAFCX5678M1ZF", tax=("0", "1800", "1800"))
    sandbox.seed(b2bcn=[doc("CN-1", **cn), doc("CN-2", **cn), doc("CN-3", **cn)])
    notes = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2bcn"), "nt_num")
    decl = dict(itcRedReq="Y", declIgst=0, declCess=0)
    ref = authed.save_actions(
        gstin=RECIPIENT,
        invdata={
            "b2bcn": [
                save_body(notes["CN-1"], "A", declCgst=Decimal("900.50"), declSgst=Decimal("900.50"), **decl),
                save_body(notes["CN-2"], "A", declCgst=900, declSgst=800, **decl),
                save_body(notes["CN-3"], "A", declCgst=2000, declSgst=2000, **decl),
            ]
        },
    )
    status = authed.wait_for_request(gstin=RECIPIENT, reference_id=ref)
    failed = {e.inv[0]["nt_num"]: e.error_msg for e in status.errors}
    assert set(failed) == {"CN-2", "CN-3"}
    assert "CGST must equal" in failed["CN-2"]
    assert "declCgst" in failed["CN-3"]
    accepted = by_number(authed.get_ims_documents(gstin=RECIPIENT, section="b2bcn"), "nt_num")["CN-1"]
    assert (accepted["action"], accepted["itcRedReq"], accepted["declCgst"]) == ("A", "Y", Decimal("900.50"))


def test_session_expiry_mid_run_raises_reauth_and_a_new_otp_login_resumes(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    sandbox.faults(expire_after_calls=1)
    assert len(authed.get_ims_documents(gstin=RECIPIENT, section="b2b")) == 1
    with pytest.raises(Reauth) as exc:
        authed.get_ims_documents(gstin=RECIPIENT, section="b2b")
    assert exc.value.code == "AUTH4038"
    assert authed.session(RECIPIENT) is None
    authed.request_otp(gstin=RECIPIENT, username=USERNAME)
    authed.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
    assert len(authed.get_ims_documents(gstin=RECIPIENT, section="b2b")) == 1


def test_expire_now_fault_is_reauth(sandbox, authed):
    sandbox.faults(expire_sessions_now=True)
    with pytest.raises(Reauth):
        authed.get_ims_counts(gstin=RECIPIENT)


def test_explicit_refresh_swaps_token_and_session_key(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    old = authed.session(RECIPIENT)
    new = authed.refresh(gstin=RECIPIENT)
    assert new.auth_token != old.auth_token
    assert new.sek != old.sek
    assert len(authed.get_ims_documents(gstin=RECIPIENT, section="b2b")) == 1
    authed.load_session(old)  # the portal dropped the old token on refresh
    with pytest.raises(Reauth):
        authed.get_ims_documents(gstin=RECIPIENT, section="b2b")


def test_session_near_expiry_is_refreshed_before_the_call(sandbox):
    sandbox.seed(b2b=[doc("KA-1")])
    with GstnAdapter(make_config(sandbox, refresh_margin=dt.timedelta(hours=7))) as client:
        client.request_otp(gstin=RECIPIENT, username=USERNAME)
        first = client.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
        assert len(client.get_ims_documents(gstin=RECIPIENT, section="b2b")) == 1
        assert client.session(RECIPIENT).auth_token != first.auth_token
    assert sandbox.stats()["by_action"]["REFRESHTOKEN"] == 1


def test_stored_session_can_be_loaded_into_a_new_client(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    stored = authed.session(RECIPIENT).to_dict()
    with GstnAdapter(make_config(sandbox)) as other:
        from gst_sync.client.base import PortalSession

        other.load_session(PortalSession.from_dict(stored))
        assert len(other.get_ims_documents(gstin=RECIPIENT, section="b2b")) == 1


def test_5xx_answers_are_retried_then_succeed(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    sandbox.faults(fail_next=2)
    assert len(authed.get_ims_documents(gstin=RECIPIENT, section="b2b")) == 1
    assert sandbox.stats()["by_action"]["GETINV"] == 3


def test_persistent_5xx_gives_up_after_the_bounded_attempts(sandbox, authed):
    sandbox.faults(fail_next=50)
    with pytest.raises(Transient) as exc:
        authed.get_ims_documents(gstin=RECIPIENT, section="b2b")
    assert exc.value.http_status == 503
    assert sandbox.stats()["by_action"]["GETINV"] == 4  # RetryPolicy(max_attempts=4)


def test_a_500_on_save_is_not_resent(sandbox, authed):
    sandbox.seed(b2b=[doc("KA-1")])
    record = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]
    sandbox.faults(fail_next=1, error_status=500)
    with pytest.raises(Transient):
        authed.save_actions(gstin=RECIPIENT, invdata={"b2b": [save_body(record, "A")]})
    assert sandbox.stats()["by_action"]["SAVE"] == 1


def test_random_5xx_rate_is_absorbed_by_retries(sandbox, sandbox_url):
    sandbox.seed(b2b=[doc("KA-1")])
    with GstnAdapter(
        make_config(
            sandbox,
            retry=make_config(sandbox).retry.__class__(max_attempts=12, base_delay=0.001, max_delay=0.005),
        )
    ) as client:
        client.request_otp(gstin=RECIPIENT, username=USERNAME)
        client.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
        sandbox.faults(error_rate=0.3)
        for _ in range(5):
            assert len(client.get_ims_documents(gstin=RECIPIENT, section="b2b")) == 1
    assert 5 <= sandbox.stats()["by_action"]["GETINV"] <= 60


def test_broken_file_hash_is_a_clear_integrity_error(sandbox, authed):
    sandbox.seed(b2b=[doc(f"BIG-{n}") for n in range(9)])
    sandbox.faults(large_threshold=2, records_per_file=4, break_file_hash=2)
    with pytest.raises(IntegrityError) as exc:
        authed.get_ims_documents(gstin=RECIPIENT, section="b2b")
    assert "part 2 of 3" in exc.value.message
    assert "SHA-256" in exc.value.message


def test_get2b_merges_file_parts_and_places_actions(sandbox, authed):
    sandbox.seed(
        b2b=[
            doc("A-1", action="A"),
            doc("N-1"),
            doc("N-2", stin="27AAFCX5678M1ZF"),
            doc("R-1", action="R"),
            doc("P-1", action="P"),
            doc("U-1", filed=False),
            doc("NOV-1", period="112025"),
        ],
        b2bcn=[doc("CN-1", section="b2bcn", action="A")],
    )
    sandbox.faults(twob_records_per_file=2)
    data = authed.get_2b(gstin=RECIPIENT, period="102025")
    assert sandbox.stats()["by_action"]["GET2B"] == 1 + 3  # head, then file_num 1..3
    available = [inv["inum"] for s in data["docdata"]["b2b"] for inv in s["inv"]]
    assert sorted(available) == ["A-1", "N-1", "N-2"]
    assert [n["ntnum"] for s in data["docdata"]["cdnr"] for n in s["nt"]] == ["CN-1"]
    assert [inv["inum"] for s in data["docRejdata"]["b2b"] for inv in s["inv"]] == ["R-1"]
    assert data["itcsumm"]["itcavl"]["nonrevsup"]["igst"] == 3 * 9000
    assert data["rtnprd"] == "102025"


def test_get2b_without_documents_is_empty(sandbox, authed):
    data = authed.get_2b(gstin=RECIPIENT, period="012020")
    assert data["docdata"] == {}
    assert data["docRejdata"] == {}


def test_gen2b_regenerates_after_actions_change(sandbox, authed):
    sandbox.seed(b2b=[doc("A-1")])
    assert len(authed.get_2b(gstin=RECIPIENT, period="102025")["docdata"]["b2b"]) == 1
    record = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")[0]
    ref = authed.save_actions(gstin=RECIPIENT, invdata={"b2b": [save_body(record, "R")]})
    authed.wait_for_request(gstin=RECIPIENT, reference_id=ref)
    assert "b2b" in authed.get_2b(gstin=RECIPIENT, period="102025")["docdata"]  # the 2B is a snapshot
    gen = authed.gen_2b(gstin=RECIPIENT, period="102025")
    assert authed.gen_2b_status(gstin=RECIPIENT, reference_id=gen).status == "IP"
    assert authed.wait_for_2b(gstin=RECIPIENT, reference_id=gen).status == "P"
    regenerated = authed.get_2b(gstin=RECIPIENT, period="102025")
    assert "b2b" not in regenerated["docdata"]
    assert len(regenerated["docRejdata"]["b2b"]) == 1


def test_supplier_sees_recipients_actions_on_its_outward_documents(sandbox, adapter):
    sandbox.seed(b2b=[doc("KA-1", action="R"), doc("OTHER", stin="27AAFCX5678M1ZF")])
    adapter.request_otp(gstin=SUPPLIER, username="supplier_api")
    adapter.authenticate(gstin=SUPPLIER, username="supplier_api", otp=OTP)
    outward = adapter.get_outward_actions(gstin=SUPPLIER, section="b2b")
    assert [(r["inum"], r["rtin"], r["action"]) for r in outward] == [("KA-1", RECIPIENT, "R")]


def test_secrets_never_reach_the_logs(sandbox, adapter, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.seed(b2b=[doc(f"BIG-{n}") for n in range(6)])
    sandbox.faults(large_threshold=2, records_per_file=4, fail_next=1)
    adapter.request_otp(gstin=RECIPIENT, username=USERNAME)
    session = adapter.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
    records = adapter.get_ims_documents(gstin=RECIPIENT, section="b2b")
    refreshed = adapter.refresh(gstin=RECIPIENT)
    ref = adapter.save_actions(gstin=RECIPIENT, invdata={"b2b": [save_body(records[0], "A")]})
    adapter.wait_for_request(gstin=RECIPIENT, reference_id=ref)
    text = caplog.text
    assert "GETINV" in text
    assert RECIPIENT in text
    assert "FILEDET" in text  # the log says what happened…
    assert "token=***" in text  # …and the file token in httpx's URL line is masked
    for secret in (
        CLIENT_SECRET,
        OTP,
        session.auth_token,
        refreshed.auth_token,
        crypto.b64(session.sek),
        crypto.b64(refreshed.sek),
        crypto.b64(session.app_key),
    ):
        assert secret not in text


def test_generated_documents_are_the_same_through_the_small_and_the_token_path(sandbox, adapter):
    sandbox.post("reset", {"seed": 7, "docs": 60})  # a reset also ends every session
    adapter.request_otp(gstin=RECIPIENT, username=USERNAME)
    authed = adapter
    authed.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
    small = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")
    sandbox.faults(large_threshold=10, records_per_file=7)
    large = authed.get_ims_documents(gstin=RECIPIENT, section="b2b")
    assert len(small) > 10
    assert large == small
    assert sandbox.stats()["by_action"]["FILEDET"] == 1
