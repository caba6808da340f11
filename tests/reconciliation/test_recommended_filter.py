"""The "apply recommended action" button of the reconciliation summary: for the latest finished run of its GSTINs
it hands the bulk-action confirmation the documents filter (``reconciliation=<outcome>``, the GSTIN when the run is
for one), so the server counts and re-checks the outcome; for an older run it hands over the documents' ids."""

import datetime as dt
import re
from urllib.parse import parse_qs

from reconciliation import engine, services
from reconciliation.engine import execute_run
from reconciliation.models import ReconMatch
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import make_doc
from tests.reconciliation.test_register_and_engine import as_alice

HOME = "/t/acme/reconciliation/"


def apply_forms(content: str) -> dict[str, dict[str, list[str]]]:
    """Per outcome, the hidden fields of its apply form (name → values)."""
    out = {}
    for outcome, body in re.findall(
        r'<form[^>]*class="recon-apply" data-outcome="(\w+)">(.*?)</form>', content, re.S
    ):
        fields: dict[str, list[str]] = {}
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', body):
            fields.setdefault(name, []).append(value.replace("&amp;", "&"))
        out[outcome] = fields
    return out


def run_again(tenant, alice, registrations):
    with tenant_scope(tenant):
        run = services.start_run(
            **as_alice(tenant, alice),
            registrations=registrations,
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    return execute_run(run_id=run.pk)


def exact_ids(tenant, run) -> list[str]:
    with tenant_scope(tenant):
        return sorted(
            str(i)
            for i in ReconMatch.objects.filter(run=run, outcome="exact").values_list("document_id", flat=True)
        )


def test_latest_run_passes_the_filter_and_the_confirmation_counts_it(
    tenant_a, reg_a1, reconciled, alice, client_for
):
    run, _ = reconciled
    c = client_for(alice)
    home = c.get(HOME).content.decode()
    forms = apply_forms(home)
    exact = forms["exact"]
    assert "ids" not in exact
    assert exact["all_matching"] == ["on"]
    assert parse_qs(exact["query"][0]) == {"reconciliation": ["exact"], "registration": [reg_a1.gstin]}
    assert parse_qs(forms["missing_in_register"]["query"][0])["reconciliation"] == ["missing_in_register"]
    assert "apply recommended action to 2 documents" in home

    confirm = c.post("/t/acme/actions/confirm/", exact)
    assert confirm.status_code == 200
    assert re.search(
        r"2\s+documents selected \(every document matching the filter\)", confirm.content.decode()
    )


def test_an_older_run_still_showing_results_passes_its_documents_ids(
    tenant_a, reg_a1, reconciled, alice, client_for, monkeypatch
):
    first, _ = reconciled
    # A newer run drops older results unless a reader still holds them ("dropped by a later run"): that case.
    monkeypatch.setattr(engine, "_drop_older_results", lambda run: None)
    second = run_again(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    older = apply_forms(c.get(HOME, {"run": first.pk}).content.decode())["exact"]
    assert sorted(older["ids"]) == exact_ids(tenant_a, first)
    assert len(older["ids"]) == 2
    assert "all_matching" not in older
    assert "query" not in older
    latest = apply_forms(c.get(HOME, {"run": second.pk}).content.decode())["exact"]
    assert "ids" not in latest
    assert parse_qs(latest["query"][0])["reconciliation"] == ["exact"]


def test_a_run_of_several_gstins_is_named_by_the_filter_only_while_no_other_gstin_has_another_latest_run(
    tenant_a, reg_a1, reg_a2, reconciled, alice, client_for
):
    make_doc(reg_a2, doc_number="KA/1", twob_period=dt.date(2025, 10, 1))  # missing in the register
    both = run_again(tenant_a, alice, [reg_a1, reg_a2])
    c = client_for(alice)
    forms = apply_forms(c.get(HOME, {"run": both.pk}).content.decode())
    assert parse_qs(forms["exact"]["query"][0]) == {"reconciliation": ["exact"]}
    assert parse_qs(forms["missing_in_register"]["query"][0]) == {"reconciliation": ["missing_in_register"]}

    reg_a3 = factories.make_registration(tenant_a, state="33", n=4)
    run_again(
        tenant_a, alice, [reg_a3]
    )  # reg_a3's latest run is another: a filter without GSTIN would read it
    exact = apply_forms(c.get(HOME, {"run": both.pk}).content.decode())["exact"]
    assert sorted(exact["ids"]) == exact_ids(tenant_a, both)
    assert "query" not in exact
