"""Reconciliation benchmark: N supplier documents against a purchase register derived from them with realistic
noise, matched by the engine; precision and recall against the known truth, and a plain in-memory hash join on
the exact key as the floor.

    RECON_N=200000 (default 1,000,000) DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_recon.py

``RECON_REUSE=1`` keeps a register already loaded by an earlier run with the same N (the generator is seeded, so
the truth is the same) and only runs the engine again.

Noise on the register side (the generator keeps the truth: register line → supplier document):

* 35 % numbers spelt differently (case, ``/`` → ``-``, zero padding) and 3 % with an FY prefix (``25-26/…``,
  ``2025-26/…``);
* 4 % rounding of a head within ₹1; 5 % taxable value off by ₹500 (a mismatch: still the true pair);
* 2 % a letter added to the number (fuzzy); 2 % dates a few days off;
* 2 % booked under the supplier's other GSTIN (PAN fallback, same PAN);
* 2 % of documents not booked (missing in register); 2 % extra lines of other numbers (missing in supplier data);
* 1 % booked as 2-3 lines of one number whose amounts add up to the document (split bookings: groups);
* 0.5 % booked twice (duplicates: the repeat is not a true pair);
* as people type (issue #12): 1 % look-alike characters in the number (0 → O, 1 → I: probable), 1 % the FY in
  another form (``2526/…``, ``FY26/…``), half the debit notes booked as ordinary purchases, 0.5 % a bill with a
  nil-rated line beside its taxed line (the nil line belongs to the same document);
* bills of entry and ISD documents (about 1 % of N more documents, the Import of Goods and ISD tabs of
  ``tools.sandbox_portal.generator.other_tabs``): a bill of entry booked without a supplier GSTIN, under its
  number, date and port code, with the foreign supplier's invoice number and date beside them (5 % two days later);
  ISD invoices and credit notes booked as ISD, one ISD credit note in ten booked as a negative invoice — which must
  not pair (not recoverable: an ISD credit note never pairs with an invoice).

Noise kinds combine at random (a split booking under the other GSTIN, say); the truth keeps every true pair.

A true pair is *recoverable* when the rules can pair it: not when a PAN-fallback line is also a mismatch of a
similar (not equal) number, nor when a date shift crosses a financial year (across-FY off), nor a split booking (or
a nil line) whose lines carry another GSTIN or a fuzzy number (groups form on the exact key).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import as_owner, configure, ensure_documents  # noqa: E402

N = int(os.environ.get("RECON_N", "1000000"))
SEED = 7
BOE_SECTIONS = ("impg", "impga", "impgsez", "impgseza")
ISD_SECTIONS = ("isd", "isda", "isdcn", "isdcna")


def ensure_other_tabs(tenant, regs) -> int:
    """Bills of entry and ISD documents in the bench tenant, about 1 % of N (once); returns how many there are."""
    from common import PERIODS

    from audit.services import Actor
    from invoices.models import SupplierDocument
    from invoices.services.ingest import ingest_documents
    from tools.sandbox_portal.generator import other_tabs

    tabs = SupplierDocument.objects.filter(tenant=tenant, section__in=BOE_SECTIONS + ISD_SECTIONS)
    per_kind = max(1, N // 100 // (len(regs) * len(PERIODS) * 4))
    if tabs.count() < per_kind * 4 * len(regs) * len(PERIODS) // 2:  # none yet, or made for a smaller N
        for i, reg in enumerate(regs):
            for j, period in enumerate(PERIODS):
                records = other_tabs(reg.gstin, docs=per_kind * 50, seed=5000 + i * 100 + j, period=period)
                result = ingest_documents(
                    tenant=tenant,
                    registration=reg,
                    records=records,
                    actor=Actor.system("bench"),
                    source="bench",
                    audit_created=False,
                )
                if result.errors:
                    raise RuntimeError(result.errors[:3])
    return tabs.count()


def _split(amount: Decimal, k: int) -> list[Decimal]:
    part = (amount / k).quantize(Decimal("0.01"))
    return [part] * (k - 1) + [amount - part * (k - 1)]


def _register(docs, rnd: random.Random):
    """(register lines, truth {erp_ref: document id}, recoverable erp_refs)."""
    from gst.gstin import make_gstin
    from gst.numbers import normalise_doc_number
    from gst.periods import fy_start_year, month_start

    lines, truth, recoverable = [], {}, set()

    def add(line, doc_id=None, ok=False):
        fy = fy_start_year(line["doc_date"])
        line.update(
            number_norm=normalise_doc_number(line["doc_number"], fy),
            fy=fy,
            period_booked=month_start(line["doc_date"]),
        )
        lines.append(line)
        if doc_id is not None:
            truth[line["erp_ref"]] = doc_id
            if ok:
                recoverable.add(line["erp_ref"])

    for id_, reg, sg, kind, number, date, taxable, igst, cgst, sgst, cess, section, port in docs:
        if rnd.random() < 0.02:
            continue  # not booked
        amounts = {"taxable": taxable, "igst": igst, "cgst": cgst, "sgst": sgst, "cess": cess}
        if section in BOE_SECTIONS:
            boe_date = date + dt.timedelta(days=2 if rnd.random() < 0.05 else 0)
            add(
                {
                    "registration_id": reg,
                    "supplier_gstin": "",
                    "kind": "invoice",
                    "doc_number": f"EXP/{id_}",
                    "doc_date": date - dt.timedelta(days=12),
                    **amounts,
                    "pos": "",
                    "reverse_charge": False,
                    "erp_ref": f"B{id_}",
                    "itc_claimed": True,
                    "supply_type": "impg",
                    "boe_number": number,
                    "boe_date": boe_date,
                    "port_code": port or "",
                },
                id_,
                fy_start_year(boe_date) == fy_start_year(date),
            )
            continue
        if section in ISD_SECTIONS:
            as_invoice = kind == "credit_note" and rnd.random() < 0.1
            negative = {h: -v for h, v in amounts.items()} if as_invoice else amounts
            add(
                {
                    "registration_id": reg,
                    "supplier_gstin": sg,
                    "kind": "invoice" if as_invoice else kind,
                    "doc_number": number,
                    "doc_date": date,
                    **negative,
                    "pos": "",
                    "reverse_charge": False,
                    "erp_ref": f"B{id_}",
                    "itc_claimed": True,
                    "supply_type": "isd",
                },
                id_,
                not as_invoice,
            )
            continue
        num, d = number, date
        if rnd.random() < 0.35:
            padded = re.sub(r"([0-9]+)$", lambda m: m[1].zfill(len(m[1]) + 2), number)
            num = rnd.choice([number.lower(), number.replace("/", "-"), padded])[:20]
        elif rnd.random() < 0.05:
            fy = fy_start_year(date)
            prefixed = rnd.choice([f"{fy % 100}-{(fy + 1) % 100}/", f"{fy}-{(fy + 1) % 100}/"]) + number
            if len(prefixed) <= 20:
                num = prefixed
        by_eye = rnd.random() < 0.01 and bool(re.search(r"[01]", num))
        if by_eye:  # typed by eye: look-alike characters
            num = num.replace("0", "O", 1) if "0" in num and rnd.random() < 0.5 else num.replace("1", "I", 1)
        elif rnd.random() < 0.01:
            fy = fy_start_year(date)
            other = rnd.choice([f"{fy % 100:02d}{(fy + 1) % 100:02d}/", f"FY{(fy + 1) % 100:02d}/"]) + number
            if len(other) <= 20:
                num = other
        y = rnd.random()
        mismatch = fuzzy = False
        if y < 0.04:
            head = "igst" if igst else "cgst"
            amounts[head] = amounts[head] + Decimal(rnd.choice(["0.40", "-0.60", "0.99"]))
        elif y < 0.09:
            amounts["taxable"] = amounts["taxable"] + Decimal("500")
            mismatch = True
        elif y < 0.11:
            num = (num + "A")[:20]
            fuzzy = True
        elif y < 0.13:
            d = date + dt.timedelta(days=rnd.choice([-3, 2, 5]))
        gstin = sg
        if rnd.random() < 0.02:
            gstin = make_gstin("33" if sg[:2] != "33" else "27", sg[2:12], "1")
        as_purchase = kind == "debit_note" and rnd.random() < 0.5  # a register without a debit-note type
        # Similar (not equal) numbers pair only within tolerance across GSTINs; a debit note booked as a purchase
        # pairs only on its number.
        ok = (
            not (gstin != sg and mismatch and (fuzzy or by_eye))
            and not (as_purchase and (fuzzy or by_eye))
            and fy_start_year(d) == fy_start_year(date)
        )
        ref = f"B{id_}"
        base = {
            "registration_id": reg,
            "supplier_gstin": gstin,
            "kind": "invoice" if as_purchase else kind,
            "doc_number": num,
            "doc_date": d,
            **amounts,
            "pos": "",
            "reverse_charge": False,
            "erp_ref": ref,
            "itc_claimed": True,
        }
        if rnd.random() < 0.01 and not mismatch:  # split booking: 2-3 lines of one number adding up
            k = rnd.choice([2, 3])
            parts = {h: _split(v, k) for h, v in amounts.items()}
            for i in range(k):  # a group forms on the exact key: same GSTIN, no fuzzy spelling
                add(
                    {**base, **{h: parts[h][i] for h in parts}, "erp_ref": f"{ref}-s{i}"},
                    id_,
                    ok and gstin == sg and not fuzzy and not by_eye and not as_purchase,
                )
            continue
        add(base, id_, ok)
        if rnd.random() < 0.005:  # the bill's nil-rated part on a line of its own: no tax
            nil = {h: Decimal("0.00") for h in ("igst", "cgst", "sgst", "cess")}
            add({**base, **nil, "taxable": Decimal("250.00"), "erp_ref": ref + "-nil"}, id_, ok and not fuzzy)
        if rnd.random() < 0.005:
            add({**base, "erp_ref": ref + "-dup"})
        if rnd.random() < 0.02:
            extra = f"X{id_}"
            add({**base, "doc_number": extra, "erp_ref": "E" + ref})
    return lines, truth, recoverable


def _floor(cur, tenant_id: int) -> tuple[str, float, int]:
    """A plain in-memory hash join on the exact key (polars or pandas when installed, else Python dicts)."""
    cur.execute(
        "SELECT id, registration_id, supplier_gstin, kind, number_norm, fy FROM "
        "reconciliation_purchaseline WHERE tenant_id = %s",
        [tenant_id],
    )
    rrows = cur.fetchall()
    cur.execute(
        "SELECT id, registration_id, supplier_gstin, doc_kind, doc_number_norm, fy FROM "
        "invoices_supplierdocument WHERE tenant_id = %s",
        [tenant_id],
    )
    srows = cur.fetchall()
    cols = ["id", "reg", "sg", "kind", "norm", "fy"]
    for lib in ("polars", "pandas"):
        try:
            mod = __import__(lib)
        except ImportError:
            continue
        left, right = (
            mod.DataFrame(rrows, columns=cols)
            if lib == "pandas"
            else mod.DataFrame(rrows, schema=cols, orient="row"),
            mod.DataFrame(srows, columns=cols)
            if lib == "pandas"
            else mod.DataFrame(srows, schema=cols, orient="row"),
        )
        t = time.perf_counter()
        joined = left.merge(right, on=cols[1:]) if lib == "pandas" else left.join(right, on=cols[1:])
        return lib, time.perf_counter() - t, len(joined)
    t = time.perf_counter()
    index = {r[1:]: r[0] for r in srows}
    joined = sum(1 for r in rrows if r[1:] in index)
    return "Python dict", time.perf_counter() - t, joined


def main() -> None:
    configure()
    t0 = time.perf_counter()
    tenant, regs = ensure_documents(N)
    print(f"documents ready in {time.perf_counter() - t0:.1f} s", flush=True)
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from ims_project import rls
    from reconciliation import engine, services
    from reconciliation.models import PurchaseLine, ReconRun
    from tenancy.scoping import tenant_scope

    rnd = random.Random(SEED)
    with tenant_scope(tenant):
        from invoices.models import SupplierDocument

        # The register books the latest version of a document: an amended original is not booked (nor matched).
        tabs = ensure_other_tabs(tenant, regs)
        fields = (
            "id",
            "registration_id",
            "supplier_gstin",
            "doc_kind",
            "doc_number",
            "doc_date",
            "taxable_value",
            "igst",
            "cgst",
            "sgst",
            "cess",
            "section",
            "port_code",
        )
        latest = SupplierDocument.objects.filter(tenant=tenant, amendments__isnull=True).order_by("id")
        docs = list(latest.exclude(section__in=BOE_SECTIONS + ISD_SECTIONS).values_list(*fields)[:N]) + list(
            latest.filter(section__in=BOE_SECTIONS + ISD_SECTIONS).values_list(*fields)
        )
        print(f"bills of entry and ISD documents: {tabs:,}", flush=True)
        t = time.perf_counter()
        lines, truth, recoverable = _register(docs, rnd)
        print(f"register generated: {len(lines):,} lines in {time.perf_counter() - t:.1f} s", flush=True)
        have = PurchaseLine.objects.filter(tenant=tenant).count()
        if not (
            os.environ.get("RECON_REUSE", "") not in ("", "0")
            and have == len({line["erp_ref"] for line in lines})
        ):
            t = time.perf_counter()
            with connection.cursor() as cur, as_owner(cur):  # the bench database holds the bench tenant only
                cur.execute(
                    "TRUNCATE reconciliation_reconmatch, reconciliation_manuallink, "
                    "reconciliation_purchaseline"
                )
            # Lines booked twice are booked later than the original (a later import), so the original has the
            # lower id: of two identical lines the matcher pairs the lower id and calls the other the duplicate.
            first = [line for line in lines if not line["erp_ref"].endswith("-dup")]
            later = [line for line in lines if line["erp_ref"].endswith("-dup")]
            with transaction.atomic():
                for i in range(0, len(first), 50_000):
                    services._upsert(tenant.pk, first[i : i + 50_000])
                services._upsert(tenant.pk, later)
            with connection.cursor() as cur, as_owner(cur):
                cur.execute("VACUUM ANALYZE reconciliation_purchaseline")
            print(f"register lines loaded: {len(lines):,} in {time.perf_counter() - t:.1f} s", flush=True)
        user = get_user_model().objects.get_or_create(username="bench-recon")[0]
        dates = [d[5] for d in docs]
        run = ReconRun.objects.create(
            tenant=tenant,
            user_id=user.pk,
            actor_type="system",
            actor_label="bench",
            registration_ids=[r.pk for r in regs],
            date_from=min(dates) - dt.timedelta(30),
            date_to=max(dates) + dt.timedelta(30),
            rules=services.active_rules(tenant=tenant),
        )
    with (
        rls.as_owner(),
        connection.cursor() as cur,
    ):  # CHECKPOINT: the connecting user's (a superuser's) right
        cur.execute("CHECKPOINT")  # start from clean buffers: the run's writes are its own
    t = time.perf_counter()
    run = engine.execute_run(run_id=run.pk)
    engine_s = time.perf_counter() - t
    with tenant_scope(tenant), connection.cursor() as cur:
        ref_of = dict(PurchaseLine.objects.filter(tenant=tenant).values_list("id", "erp_ref"))
        cur.execute(
            "SELECT purchase_id, document_id FROM reconciliation_reconmatch WHERE run_id = %s "
            "AND purchase_id IS NOT NULL AND document_id IS NOT NULL",
            [run.pk],
        )
        predicted = {(ref_of[p], d) for p, d in cur.fetchall()}
    true_pairs = set(truth.items())
    recoverable_pairs = {(ref, d) for ref, d in true_pairs if ref in recoverable}
    correct = len(predicted & true_pairs)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(true_pairs) if true_pairs else 0.0
    recall_ok = len(predicted & recoverable_pairs) / len(recoverable_pairs) if recoverable_pairs else 0.0
    with connection.cursor() as cur:
        lib, floor_s, joined = _floor(cur, tenant.pk)
    print(f"documents {len(docs):,} × register lines {len(lines):,}")
    print(f"engine, start of run to results stored: {engine_s:.2f} s")
    print(f"  stages: {engine.LAST_TIMINGS}")
    print(f"  outcomes: {run.counts}")
    print(
        f"precision {precision:.4f}  recall on recoverable pairs {recall_ok:.4f} ({len(recoverable_pairs):,})  "
        f"recall on all true pairs {recall:.4f}  ({correct:,} of {len(true_pairs):,} true pairs, "
        f"{len(predicted):,} predicted)"
    )
    print(
        f"floor: in-memory hash join on the exact key ({lib}): {floor_s:.2f} s ({joined:,} joined; fetch not "
        "counted)"
    )
    if os.environ.get("RECON_STRICT") and (precision < 0.995 or recall_ok < 0.99):
        sys.exit(1)


if __name__ == "__main__":
    main()
