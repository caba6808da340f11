"""Matching what people actually type (issue #12 §2), through the REST upsert, a run and the results API: look-alike
characters, the financial year in any form, the other GSTIN of the same organisation or supplier, IRN first, debit
notes booked as purchases, credit notes with either sign, nil-rated lines of a bill, the field's words and signs."""

import datetime as dt
import re
from decimal import Decimal

from audit.services import Actor
from reconciliation import services
from reconciliation.engine import execute_run
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc, make_supplier
from tests.factories import gstin_for

SUPPLIER = gstin_for(7301, "29")  # inter-state: IGST
MATCHES = "/api/v1/t/acme/reconciliation/matches/"


def line(reg, number, ref, **kw):
    return {
        "recipient_gstin": reg.gstin,
        "supplier_gstin": SUPPLIER,
        "kind": "Invoice",
        "doc_number": number,
        "doc_date": "05-10-2025",
        "taxable": "10000",
        "igst": "1800",
        "erp_ref": ref,
        **kw,
    }


def upsert(tenant, alice, lines):
    with tenant_scope(tenant):
        status, body = services.upsert_lines(
            tenant=tenant,
            actor=Actor.user(alice),
            user=alice,
            membership=Membership.objects.get(tenant=tenant, user=alice),
            lines=lines,
        )
    assert status == 200, body
    return body


def reconcile(tenant, alice, regs):
    with tenant_scope(tenant):
        run = services.start_run(
            tenant=tenant,
            actor=Actor.user(alice),
            user=alice,
            membership=Membership.objects.get(tenant=tenant, user=alice),
            registrations=regs,
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    return execute_run(run_id=run.pk)


def results(c, run) -> list[dict]:
    r = c.get(MATCHES, {"run": run.pk, "page_size": 500})
    assert r.status_code == 200
    return r.json()["results"]


def by_document(rows) -> dict[str, dict]:
    return {r["document"]["doc_number"]: r for r in rows if r["document"]}


def doc(reg, number, **kw):
    return make_doc(reg, doc_number=number, supplier_gstin=kw.pop("supplier_gstin", SUPPLIER), **kw)


def test_look_alike_characters_pair_as_probable_with_that_reason_never_exact(
    tenant_a, reg_a1, alice, client_for
):
    pairs = {
        "INV/042": ("INV/O42", "L1"),
        "5012": ("SO12", "L2"),
        "B-88": ("8-BB", "L3"),
        "INV/17": ("INV/l7", "L4"),
        "INV/2025-26/00040": ("INV/2O25-26/00040", "L5"),  # the year mistyped
        "MH/25/1005": ("MH/25/I005", "L6"),  # a letter among the serial's zeros
        "LVP-620": ("lvp-62OA", "L7"),  # look-alike and a letter added
    }
    for number in pairs:
        doc(reg_a1, number)
    upsert(tenant_a, alice, [line(reg_a1, typed, ref) for typed, ref in pairs.values()])
    rows = by_document(results(client_for(alice), reconcile(tenant_a, alice, [reg_a1])))
    for number, (_typed, ref) in pairs.items():
        row = rows[number]
        assert (row["outcome"], row["purchase"]["erp_ref"]) == ("probable", ref), number
        assert "number_confusable" in [r["code"] for r in row["reasons"]], number


def test_the_financial_year_in_any_form_is_the_same_number(tenant_a, reg_a1, alice, client_for):
    forms = {"2324": "A1", "202324": "A2", "23-24": "A3", "2023-2024": "A4", "FY24": "A5", "FY2023-24": "A6"}
    for n in range(1, len(forms) + 1):
        doc(reg_a1, f"INV/2023-24/{n}", doc_date=dt.date(2023, 10, 5))
    upsert(
        tenant_a,
        alice,
        [
            line(reg_a1, f"INV/{token}/{n}", ref, doc_date="05-10-2023")
            for n, (token, ref) in enumerate(forms.items(), 1)
        ],
    )
    with tenant_scope(tenant_a):
        run = services.start_run(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            registrations=[reg_a1],
            date_from=dt.date(2023, 10, 1),
            date_to=dt.date(2023, 10, 31),
        )
    c = client_for(alice)
    rows = by_document(results(c, execute_run(run_id=run.pk)))
    assert {n: (r["outcome"], r["purchase"]["erp_ref"]) for n, r in rows.items()} == {
        f"INV/2023-24/{n}": ("exact", ref) for n, ref in enumerate(forms.values(), 1)
    }
    # Exact, and the reason says the two were typed differently.
    for n, token in enumerate(forms, 1):
        reasons = rows[f"INV/2023-24/{n}"]["reasons"]
        typed = [r["value"] for r in reasons if r["code"] == "number_as_typed"]
        assert typed == [[f"INV/{token}/{n}", f"INV/2023-24/{n}"]], token
        assert reasons[0] == {"code": "number_exact", "value": 100, "text": "number the same once normalised"}
    listed = c.get("/t/acme/reconciliation/matches/", {"run": run.pk}).content.decode()
    assert "typed INV/FY24/5 in the books, INV/2023-24/5 by the supplier" in listed


def test_a_line_under_another_gstin_of_the_organisation_or_of_the_supplier_pairs_with_that_reason(
    tenant_a, reg_a1, reg_a2, alice, client_for
):
    supplier_other_state = gstin_for(7301, "33")  # the supplier's registration in another state: same PAN
    doc(reg_a1, "OR/1")
    doc(reg_a1, "OR/2")
    doc(reg_a1, "SP/1")
    doc(reg_a1, "SP/2")
    upsert(
        tenant_a,
        alice,
        [
            line(reg_a2, "OR/1", "R1"),  # booked under the organisation's other GSTIN, amounts agree
            line(reg_a2, "OR/2", "R2", taxable="12000", igst="2160"),  # …and amounts differ
            line(reg_a1, "SP/1", "R3", supplier_gstin=supplier_other_state),
            line(reg_a1, "SP/2", "R4", supplier_gstin=supplier_other_state, taxable="12000", igst="2160"),
        ],
    )
    run = reconcile(tenant_a, alice, [reg_a1, reg_a2])
    rows = by_document(results(client_for(alice), run))
    outcome = {n: (r["outcome"], r["purchase"]["erp_ref"]) for n, r in rows.items()}
    assert outcome == {
        "OR/1": ("probable", "R1"),
        "OR/2": ("mismatch", "R2"),
        "SP/1": ("probable", "R3"),
        "SP/2": ("mismatch", "R4"),
    }
    codes = {n: [x["code"] for x in r["reasons"]] for n, r in rows.items()}
    assert all("other_recipient" in codes[n] for n in ("OR/1", "OR/2"))
    assert all("pan_fallback" in codes[n] for n in ("SP/1", "SP/2"))
    assert "taxable" in codes["SP/2"]
    # The results list gives the same reasons as the pair view, in the same words.
    listed = client_for(alice).get("/t/acme/reconciliation/matches/", {"run": run.pk}).content.decode()
    assert listed.count("booked under another GSTIN of your organisation") == 2
    assert listed.count("booked under another GSTIN of the supplier (same PAN)") == 2
    assert "taxable +2,000.00" not in listed  # supplier − books: the books say 12,000, the supplier 10,000
    assert "taxable −2,000.00" in listed


def _pure(side, id_, number, *, irn="", taxable="1000", recipient="1", supplier=SUPPLIER):
    from reconciliation.domain.matching import Doc

    return Doc(
        id_,
        side,
        recipient,
        supplier,
        "invoice",
        number,
        dt.date(2025, 10, 5),
        Decimal(taxable),
        Decimal(taxable) * Decimal("0.18"),
        irn=irn,
    )


def test_the_irn_when_both_sides_have_it_is_the_first_key():
    from reconciliation.domain.matching import match
    from reconciliation.domain.rules import RuleSet

    irn_a, irn_b = "a" * 64, "b" * 64
    register = [
        _pure("R", 1, "TOTALLY-OTHER-7", irn=irn_a),  # the books mistyped the number: the IRN says which one
        _pure("R", 2, "INV/9", irn=irn_b),  # same number as document 12 but another e-invoice
        _pure("R", 3, "INV/5", irn=irn_a.replace("a", "c")),
    ]
    supplier = [
        _pure("S", 11, "INV/5", irn=irn_a),
        _pure("S", 12, "INV/9", irn="d" * 64),
        _pure("S", 13, "INV/5", taxable="1000"),
    ]
    res = {(r.register_ids, r.supplier_ids): r for r in match(register, supplier, RuleSet())}
    assert res[((1,), (11,))].outcome == "mismatch"  # certain pair; the number differs
    assert res[((3,), (13,))].outcome == "exact"  # no IRN on the supplier's side: by number as ever
    assert res[((2,), ())].outcome == "missing_in_supplier"  # IRNs differ: never paired
    assert res[((), (12,))].outcome == "missing_in_register"
    same = match([_pure("R", 1, "INV/5", irn=irn_a)], [_pure("S", 2, "INV-5", irn=irn_a)], RuleSet())
    assert same[0].outcome == "exact"


def test_debit_notes_pair_with_purchases_credit_notes_with_either_sign_and_the_summary_nets_them(
    tenant_a, reg_a1, alice, client_for
):
    doc(reg_a1, "DN/1", section="b2bdn")  # the supplier's debit note, booked as an ordinary purchase
    doc(reg_a1, "CN/1", section="b2bcn")  # credit notes as the portal has them: positive
    doc(reg_a1, "CN/2", section="b2bcn")
    doc(reg_a1, "INV/1")
    upsert(
        tenant_a,
        alice,
        [
            line(reg_a1, "DN/1", "P1"),
            line(reg_a1, "CN/1", "P2", kind="Credit note", taxable="-10000", igst="-1800"),
            line(reg_a1, "CN/2", "P3", taxable="-10000", igst="-1800"),  # a negative purchase
            line(reg_a1, "INV/1", "P4"),
        ],
    )
    # Credit notes compare without sign even with the rule "ignore the sign" off.
    with tenant_scope(tenant_a):
        services.save_rules(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            params={"absolute_amounts": False},
        )
    run = reconcile(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    rows = by_document(results(c, run))
    outcome = {n: (r["outcome"], r["purchase"]["erp_ref"]) for n, r in rows.items()}
    assert outcome == {
        "DN/1": ("probable", "P1"),
        "CN/1": ("exact", "P2"),
        "CN/2": ("probable", "P3"),
        "INV/1": ("exact", "P4"),
    }
    kinds = {n: [x["value"] for x in r["reasons"] if x["code"] == "kind"] for n, r in rows.items()}
    assert kinds["DN/1"] == ["debit_note_as_purchase"]
    assert kinds["CN/2"] == ["credit_note_as_negative_purchase"]
    summary = c.get(f"/api/v1/t/acme/reconciliation/runs/{run.pk}/").json()
    # 1,800 (invoice) − 1,800 (credit note CN/1) among the exact pairs; CN/2 and DN/1 net likewise.
    assert Decimal(str(summary["outcomes"]["exact"]["igst"])) == Decimal("0.00")
    assert Decimal(str(summary["outcomes"]["probable"]["igst"])) == Decimal("0.00")


def test_nil_rated_exempt_and_non_gst_lines_of_a_bill_are_left_out_of_the_tax_comparison(
    tenant_a, reg_a1, alice, client_for
):
    doc(reg_a1, "NIL/1")  # taxable 10,000, IGST 1,800
    doc(reg_a1, "NIL/2")
    upsert(
        tenant_a,
        alice,
        [
            line(reg_a1, "NIL/1", "T1"),
            # The bill's exempt part, booked as its own line with a taxable value and no tax.
            line(reg_a1, "NIL/1", "T2", taxable="2500", igst="0"),
            line(reg_a1, "NIL/2", "T3"),
            line(reg_a1, "NIL/2", "T4", taxable="0", igst="0", exempt_value="700"),
        ],
    )
    rows = results(client_for(alice), reconcile(tenant_a, alice, [reg_a1]))
    outcomes = {r["purchase"]["erp_ref"]: r["outcome"] for r in rows if r["purchase"]}
    assert outcomes == {"T1": "exact", "T2": "exact", "T3": "exact", "T4": "exact"}  # no "duplicate"
    nil = [r for r in rows if r["purchase"] and r["purchase"]["erp_ref"] in ("T2", "T4")]
    assert all("nil_line" in [x["code"] for x in r["reasons"]] for r in nil)
    assert all(r["group_no"] is not None for r in rows)


def test_only_in_supplier_data_is_limited_to_what_the_register_covers_shown_and_changeable(
    tenant_a, reg_a1, reg_a2, alice, client_for
):
    other_supplier = gstin_for(7302, "29")
    doc(reg_a1, "IN/1")  # October: the register has October lines of reg_a1 — missing from it
    doc(reg_a1, "NOV/1", doc_date=dt.date(2025, 11, 20))  # after the last booked period: not booked yet
    doc(reg_a1, "NEW/1", supplier_gstin=other_supplier)  # a supplier the register never books
    doc(reg_a2, "A2/1")  # a GSTIN the register has no line for
    upsert(tenant_a, alice, [line(reg_a1, "BOOKED/1", "B1")])
    c = client_for(alice)

    def run_with(scope):
        r = c.post(
            "/t/acme/reconciliation/",
            {
                "registrations": [reg_a1.pk, reg_a2.pk],
                "date_from": "01-10-2025",
                "date_to": "30-11-2025",
                "scope": scope,
            },
        )
        assert r.status_code == 302, r.content.decode()[-2000:]
        with tenant_scope(tenant_a):
            from reconciliation.models import ReconRun

            run = ReconRun.objects.filter(tenant=tenant_a).first()
        return execute_run(run_id=run.pk)

    run = run_with("register")
    outcome = {n: r["outcome"] for n, r in by_document(results(c, run)).items()}
    assert outcome == {
        "IN/1": "missing_in_register",
        "NEW/1": "missing_in_register",
        "NOV/1": "outside_scope",
        "A2/1": "outside_scope",
    }
    page = c.get("/t/acme/reconciliation/", {"run": run.pk}).content.decode()
    assert "register lines booked 01-10-2025 – 31-10-2025" in page
    assert f"{reg_a2.gstin}: no register lines" in page
    assert "Only in supplier data, outside what the register covers" in page
    # No recommended action for documents outside the register's scope; "only in supplier data" keeps Pending.
    assert 'data-outcome="outside_scope"' not in page
    assert 'data-outcome="missing_in_register"' in page

    run = run_with("suppliers")
    outcome = {n: r["outcome"] for n, r in by_document(results(c, run)).items()}
    assert outcome["NEW/1"] == "outside_scope"
    assert outcome["IN/1"] == "missing_in_register"

    run = run_with("all")
    assert {r["outcome"] for r in results(c, run) if r["document"]} == {"missing_in_register"}
    bad = c.post(
        "/t/acme/reconciliation/",
        {
            "registrations": [reg_a1.pk],
            "date_from": "01-10-2025",
            "date_to": "31-10-2025",
            "scope": "nonsense",
        },
    )
    assert bad.status_code == 400


def test_why_didnt_these_match_searches_both_sides_without_ids_and_lists_candidates_with_a_link(
    tenant_a, reg_a1, alice, bob, client_for
):
    wanted = doc(reg_a1, "KX/2025/77", taxable_value="25000.00")
    doc(reg_a1, "ZZ/1", supplier_gstin=gstin_for(7399, "07"), taxable_value="99999.00")
    upsert(
        tenant_a, alice, [line(reg_a1, "KX-77-A", "Q1", taxable="25000", igst="4500")]
    )  # a typo in the books
    run = reconcile(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    why = "/t/acme/reconciliation/why-not/"

    def numbers(html, cls, attr):
        return re.findall(rf'class="{cls}" data-{attr}="([^"]+)"', html)

    by_number = c.get(why, {"q": "kx 77"}).content.decode()
    assert numbers(by_number, "found-line", "ref") == ["Q1"]
    assert numbers(by_number, "found-document", "number") == []  # "KX77" is not in "KX202577"
    by_supplier = c.get(why, {"q": SUPPLIER}).content.decode()
    assert numbers(by_supplier, "found-document", "number") == ["KX/2025/77"]
    by_amount = c.get(why, {"q": "₹ 25,000.00"}).content.decode()
    assert numbers(by_amount, "found-line", "ref") == ["Q1"]
    assert numbers(by_amount, "found-document", "number") == ["KX/2025/77"]
    by_tax = c.get(why, {"q": "4500"}).content.decode()
    assert numbers(by_tax, "found-line", "ref") == ["Q1"]
    make_supplier(tenant_a, SUPPLIER, "Kaveri Exports Private Limited")
    by_name = c.get(why, {"q": "kaveri"}).content.decode()
    assert numbers(by_name, "found-line", "ref") == ["Q1"]
    assert numbers(by_name, "found-document", "number") == ["KX/2025/77"]
    assert f"{SUPPLIER} · Kaveri Exports Private Limited" in by_name  # the name beside every GSTIN

    # The line is only in books; its candidates say why each did not pair, with a link.
    with tenant_scope(tenant_a):
        from reconciliation.models import PurchaseLine, ReconMatch

        alone = ReconMatch.objects.get(run=run, outcome="missing_in_supplier")
        line_id = PurchaseLine.objects.get(erp_ref="Q1").pk
    matches = c.get("/t/acme/reconciliation/matches/", {"run": run.pk, "outcome": "missing_in_supplier"})
    assert f"why-not/?line={alone.purchase_id}" in matches.content.decode()
    page = c.get(why, {"line": line_id}).content.decode()
    assert numbers(page, "candidate", "number") == ["KX/2025/77"]  # ZZ/1 is another supplier, far in amount
    assert "numbers too different" in page
    r = c.post("/t/acme/reconciliation/link/", {"purchase": line_id, "document": wanted.pk, "op": "link"})
    assert r.status_code == 302
    with tenant_scope(tenant_a):
        assert ReconMatch.objects.get(run=run, document=wanted).outcome == "manual"
    # A member without the GSTIN does not find the line; neither does anyone an unknown one.
    assert client_for(bob).get(why, {"line": line_id}).status_code == 400
    assert client_for(alice).get(why, {"line": 999999}).status_code == 400


def test_each_period_keeps_its_result_and_two_runs_are_compared_with_the_reason_of_each_change(
    tenant_a, reg_a1, alice, client_for
):
    late = doc(reg_a1, "LATE/1")  # dated October
    doc(reg_a1, "ON/1")
    upsert(tenant_a, alice, [line(reg_a1, "ON/1", "O1")])  # the register covers October
    october = reconcile(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    assert by_document(results(c, october))["LATE/1"]["outcome"] == "missing_in_register"
    # The bill is booked in November; October is reconciled again and a November run is made.
    upsert(tenant_a, alice, [line(reg_a1, "LATE/1", "L1", period_booked="112025")])
    again = reconcile(tenant_a, alice, [reg_a1])
    with tenant_scope(tenant_a):
        november = services.start_run(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            registrations=[reg_a1],
            date_from=dt.date(2025, 11, 1),
            date_to=dt.date(2025, 11, 30),
        )
    execute_run(run_id=november.pk)
    # October's first result is still on record, and the rerun says the pair is not in October's books.
    assert by_document(results(c, october))["LATE/1"]["outcome"] == "missing_in_register"
    paired = by_document(results(c, again))["LATE/1"]
    assert paired["outcome"] == "exact"
    assert "booked_later" in [r["code"] for r in paired["reasons"]]
    page = c.get("/t/acme/reconciliation/compare/", {"a": october.pk, "b": again.pk}).content.decode()
    changes = re.findall(r'class="change" data-number="([^"]+)"', page)
    assert changes == [late.doc_number]  # ON/1 was exact in both runs
    assert re.search(
        r'class="before">Only in supplier data<.*?class="after"><a[^>]*>Exact match<', page, re.S
    )
    assert "booked in a later period (Nov 2025)" in page
    default = c.get("/t/acme/reconciliation/compare/").content.decode()  # the latest run and the one before
    assert f"Run #{again.pk} (01-10-2025 – 31-10-2025) → run #{november.pk}" in default
    assert c.get("/t/acme/reconciliation/compare/", {"a": 999999}).status_code == 404


def test_the_erp_is_offered_the_suppliers_number_and_date_or_a_new_line_with_an_idempotency_key(
    tenant_a, reg_a1, alice, client_for
):
    typo = doc(reg_a1, "INV/042")
    same = doc(reg_a1, "INV/77")
    missing = doc(reg_a1, "NEW/5")
    upsert(tenant_a, alice, [line(reg_a1, "INV/O42", "W1"), line(reg_a1, "INV/77", "W2")])
    run = reconcile(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    r = c.get("/api/v1/t/acme/reconciliation/writeback/", {"run": run.pk})
    assert r.status_code == 200
    rows = {x["supplier_document"]["id"]: x for x in r.json()["results"]}
    assert set(rows) == {typo.pk, missing.pk}  # INV/77 is booked as the supplier numbered it
    fix = rows[typo.pk]
    assert (fix["type"], fix["line"]["erp_ref"], fix["supplier_document"]["doc_number"]) == (
        "correct_line",
        "W1",
        "INV/042",
    )
    new = rows[missing.pk]
    assert (new["type"], new["line"], new["supplier_document"]["recipient_gstin"]) == (
        "new_line",
        None,
        reg_a1.gstin,
    )
    assert new["supplier_document"]["taxable"] == "10000.00"
    again = c.get("/api/v1/t/acme/reconciliation/writeback/", {"run": run.pk}).json()["results"]
    assert {x["idempotency_key"] for x in again} == {x["idempotency_key"] for x in rows.values()}
    assert same.pk not in {x["supplier_document"]["id"] for x in again}
    assert c.get("/api/v1/t/acme/reconciliation/writeback/", {"run": "x"}).status_code == 400
    assert c.get("/api/v1/t/acme/reconciliation/writeback/", {"run": 999999}).status_code == 404
