"""Recommended action per outcome (defaults, audited edits), applying it through the bulk-action confirmation,
the Excel export of a run's results with reasons and the REST list of results."""

import io
import re

from openpyxl import load_workbook

from audit.models import AuditEvent
from reconciliation.models import ReconMatch
from tenancy.scoping import tenant_scope
from tests.tokens import api_token

URL = "/t/acme/reconciliation/outcome-actions/"


def test_defaults_recommend_accept_for_matches_and_pending_for_mismatches(tenant_a, alice, client_for):
    page = client_for(alice).get(URL)
    assert page.status_code == 200
    selected = dict(
        re.findall(
            r'<select id="oa-\w+" name="(\w+)".*?<option value="(\w?)" selected', page.content.decode(), re.S
        )
    )
    assert selected == {
        "exact": "A",
        "tolerance": "A",
        "probable": "",
        "mismatch": "P",
        "manual": "A",
        "duplicate": "",
        "missing_in_register": "P",
    }


def test_owner_edits_the_mapping_and_the_change_is_audited(tenant_a, alice, client_for):
    c = client_for(alice)
    r = c.post(
        URL,
        {
            "exact": "A",
            "tolerance": "A",
            "probable": "A",
            "mismatch": "R",
            "manual": "A",
            "duplicate": "",
            "missing_in_register": "P",
        },
    )
    assert r.status_code == 302
    assert 'value="R" selected' in c.get(URL).content.decode()
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="recon.outcome_actions_changed")
    assert event.changes == {"probable": ["", "A"], "mismatch": ["P", "R"]}
    bad = c.post(URL, {"exact": "X"})
    assert bad.status_code == 400
    assert b"Choose Accept" in bad.content


def test_viewer_sees_the_mapping_but_may_not_change_it(tenant_a, bob, client_for):
    c = client_for(bob)
    assert c.get(URL).status_code == 200
    assert c.post(URL, {"exact": "R"}).status_code == 403


def _apply_forms(content: str) -> dict[str, dict[str, list[str]]]:
    forms = re.findall(r'<form[^>]*class="recon-apply" data-outcome="(\w+)">(.*?)</form>', content, re.S)
    out = {}
    for outcome, body in forms:
        fields = out.setdefault(outcome, {})
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', body):
            fields.setdefault(name, []).append(value.replace("&amp;", "&"))
    return out


def test_apply_button_leads_to_the_bulk_confirmation_with_exactly_the_outcomes_documents(
    tenant_a, reg_a1, reconciled, alice, client_for
):
    c = client_for(alice)
    home = c.get("/t/acme/reconciliation/").content.decode()
    forms = _apply_forms(home)
    assert set(forms) == {
        "exact",
        "tolerance",
        "mismatch",
        "missing_in_register",
    }  # probable, duplicate: none
    # The latest run: the documents filter on its outcome (re-checked on the server), not ids.
    assert forms["exact"]["query"] == [f"reconciliation=exact&registration={reg_a1.gstin}"]
    assert forms["missing_in_register"]["query"] == [
        f"reconciliation=missing_in_register&registration={reg_a1.gstin}"
    ]
    assert "apply recommended action to 2 documents" in home
    confirm = c.post("/t/acme/actions/confirm/", forms["exact"])
    assert confirm.status_code == 200
    assert re.search(r"2\s+documents selected", confirm.content.decode())
    assert 'name="all_matching"' in confirm.content.decode()  # the apply step re-runs the filter too


def test_viewer_gets_no_apply_button_and_the_confirmation_refuses_them(tenant_a, reconciled, bob, client_for):
    run, d = reconciled
    c = client_for(bob)
    assert _apply_forms(c.get("/t/acme/reconciliation/").content.decode()) == {}
    r = c.post("/t/acme/actions/confirm/", {"action": "A", "ids": [d["INV/006"].pk]})
    assert r.status_code == 403


def test_other_tenant_gets_404_for_mapping_export_and_api(tenant_a, reconciled, charlie, client_for, client):
    run, _ = reconciled
    c = client_for(charlie)
    assert c.get(URL).status_code == 404
    assert c.get(f"/t/acme/reconciliation/export/?run={run.pk}").status_code == 404
    assert (
        c.get(f"/t/bharat/reconciliation/export/?run={run.pk}").status_code == 302
    )  # not theirs: no such run
    token = api_token(charlie)
    h = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    assert client.get("/api/v1/t/acme/reconciliation/matches/", **h).status_code == 404
    assert client.get(f"/api/v1/t/bharat/reconciliation/matches/?run={run.pk}", **h).status_code == 404


def test_export_has_every_result_row_with_its_reasons(tenant_a, reconciled, alice, client_for):
    run, _ = reconciled
    r = client_for(alice).get("/t/acme/reconciliation/export/")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(b"".join(r.streaming_content)), read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    with tenant_scope(tenant_a):
        assert len(body) == ReconMatch.objects.filter(run=run).count() == 8
    col = {h: i for i, h in enumerate(header)}
    by_outcome = {}
    for row in body:
        by_outcome.setdefault(row[col["Outcome"]], []).append(row)
    assert "IGST +0.60" in by_outcome["Within tolerance"][0][col["Reasons"]]  # supplier − books
    assert "taxable" in by_outcome["Mismatch"][0][col["Reason codes"]].split()
    assert "date" in by_outcome["Probable match"][0][col["Reason codes"]]
    assert by_outcome["Duplicate"][0][col["Reason codes"]] == "duplicate_of"
    assert by_outcome["Exact match"][0][col["Recommended action"]] == "Accept"
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="export.downloaded").count() == 1


def _api(client, user, query=""):
    token = api_token(user)
    return client.get(
        f"/api/v1/t/acme/reconciliation/matches/{query}", HTTP_AUTHORIZATION=f"Token {token.key}"
    )


def test_api_lists_results_with_reason_codes_paginates_and_filters_by_outcome(
    tenant_a, reconciled, alice, client
):
    run, _ = reconciled
    seen, url = [], "?page_size=3"
    while url:
        body = _api(client, alice, url).json()
        assert len(body["results"]) <= 3
        seen += body["results"]
        url = body["next"] and "?" + body["next"].split("?", 1)[1]
    with tenant_scope(tenant_a):
        assert sorted(m["id"] for m in seen) == sorted(
            ReconMatch.objects.filter(run=run).values_list("pk", flat=True)
        )
    mismatch = _api(client, alice, f"?run={run.pk}&outcome=mismatch").json()["results"]
    assert [m["outcome"] for m in mismatch] == ["mismatch"]
    assert {"taxable"} <= {r["code"] for r in mismatch[0]["reasons"]}
    assert mismatch[0]["differences"]["taxable"] == "-2000.00"  # supplier − books
    assert mismatch[0]["differing_fields"] == ["taxable"]
    assert _api(client, alice, "?outcome=nonsense").status_code == 400
    assert _api(client, alice, "?run=999999").status_code == 404
