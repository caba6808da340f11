"""The demo's purchase register: what Demo Industries' books say about the documents its suppliers reported, written
the way books are kept (docs/rules/matching.md), imported through the register upload as a user would, then
reconciled — so that a new user sees a meaningful reconciliation on the first run.

Most documents are booked as reported. The rest carry, each a few times, what real registers hold: CGST and SGST
differing by a rupee, IGST booked within a state (on an SEZ supply, and by mistake), a line under the supplier's
other-state GSTIN or the organisation's other GSTIN, a number over 16 characters, an invoice booked as two lines
without an ERP reference, look-alike characters (O for 0), the financial year written another way, credit notes
booked negative (as credit notes and as negative purchases), debit notes booked as purchases, nil-rated items, one
voucher exported item by item, bills of entry (with the foreign supplier's invoice beside them), ISD invoices and
credit notes, an e-invoice's IRN kept with another number typed, amounts that differ, documents not booked, and
lines no supplier reported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal

from audit.services import Actor
from gst.gstin import STATE_CODES, make_gstin
from gst.periods import add_months, fy_start_year
from gst.sections import SECTIONS, Section
from invoices.models import SupplierDocument
from reconciliation import services as recon
from reconciliation.domain.register_rows import COLUMNS
from reconciliation.engine import execute_run
from reconciliation.models import PurchaseLine, ReconRun
from tenancy.models import Membership, Registration, Tenant

HEADINGS = [label for _f, label, _r in COLUMNS]
FIELD = {f: i for i, (f, _l, _r) in enumerate(COLUMNS)}
KIND_LABELS = {"invoice": "Invoice", "credit_note": "Credit note", "debit_note": "Debit note"}
NOT_BOOKED_EVERY = 19  # about 5 % of the documents are not in the books
DIFFERS_EVERY = 29  # about 3 % are booked with another amount
FILE_NAME = "Purchase register (books).csv"
# The supply type the books give the supplier's invoice type (GSTR-2A/2B ``inv_typ``).
SUPPLY_TYPES = {"SEZWP": "SEZ with payment", "SEZWOP": "SEZ without payment", "DE": "Deemed export"}


@dataclass(frozen=True)
class DemoRegister:
    lines: int
    import_id: int
    run: ReconRun | None


def _money(v: Decimal) -> str:
    return f"{v:.2f}"


def _fy_token(day: dt.date) -> str:
    fy = fy_start_year(day)
    return f"{fy % 100:02d}{(fy + 1) % 100:02d}"


class _Book:
    """Rows of the register file (template headings) and the cases placed so far."""

    def __init__(self, regs: list[Registration]):
        self.regs = regs
        self.gstin = {r.pk: r.gstin for r in regs}
        self.rows: list[list[str]] = []
        self.cases: dict[str, int] = {}
        self.voucher = 0

    def ref(self) -> str:
        self.voucher += 1
        return f"PV/{self.voucher:05d}"

    def add(self, d: SupplierDocument, **over) -> None:
        values = {
            "recipient_gstin": self.gstin[d.registration_id],
            "supplier_gstin": d.supplier_gstin,
            "kind": KIND_LABELS[d.doc_kind],
            "doc_number": d.doc_number,
            "doc_date": d.doc_date.strftime("%d-%m-%Y"),
            "taxable": _money(d.taxable_value),
            "igst": _money(d.igst),
            "cgst": _money(d.cgst),
            "sgst": _money(d.sgst),
            "cess": _money(d.cess),
            "pos": d.pos or "",
            "erp_ref": self.ref(),
            "supply_type": SUPPLY_TYPES.get(d.inv_type, ""),
        }
        values.update({k: v for k, v in over.items() if not k.startswith("_")})
        row = [""] * len(HEADINGS)
        for name, value in values.items():
            row[FIELD[name]] = value if isinstance(value, str) else _money(value)
        self.rows.append(row)

    def once(self, case: str, limit: int = 3) -> bool:
        """True while case ``case`` has been placed fewer than ``limit`` times (and counts this one)."""
        if self.cases.get(case, 0) >= limit:
            return False
        self.cases[case] = self.cases.get(case, 0) + 1
        return True


def _book(book: _Book, d: SupplierDocument, i: int) -> None:
    """Book document ``d`` (the ``i``-th of its GSTIN) as the books would, placing the next case it suits."""
    tax = d.igst + d.cgst + d.sgst
    intra = d.supplier_gstin[:2] == book.gstin[d.registration_id][:2]
    info = SECTIONS[Section(d.section)]
    if info.is_bill_of_entry:
        over = {
            "supplier_gstin": "",
            "supply_type": "Import of goods",
            "boe_number": d.doc_number,
            "boe_date": d.doc_date.strftime("%d-%m-%Y"),
            "port_code": d.port_code or "",
            "pos": "",
            "doc_number": f"EXP/{d.doc_number[-5:]}",  # the foreign supplier's invoice, beside the bill of entry
            "doc_date": (d.doc_date - dt.timedelta(days=12)).strftime("%d-%m-%Y"),
            "cgst": "0",
            "sgst": "0",
        }
        if book.once("boe_igst_differs", 1):
            over["igst"] = d.igst + Decimal("250")
        book.add(d, **over)
        return
    if info.is_isd:
        if d.doc_kind == "credit_note" and book.once("isd_credit_as_negative_invoice", 1):
            # An ISD credit note booked as a negative invoice: it never pairs with the credit note.
            book.add(
                d, kind="Invoice", supply_type="ISD", **{h: -getattr(d, h) for h in ("igst", "cgst", "sgst")}
            )
        else:
            book.add(d, supply_type="ISD")
        return
    if i % NOT_BOOKED_EVERY == 5:
        return
    if d.doc_kind == "credit_note":
        negative = {
            h: -v
            for h, v in (
                ("taxable", d.taxable_value),
                ("igst", d.igst),
                ("cgst", d.cgst),
                ("sgst", d.sgst),
                ("cess", d.cess),
            )
        }
        if book.once("credit_note_as_negative_purchase", 2):
            book.add(d, kind="Invoice", **negative)
        elif i % 2:
            book.add(d, **negative)  # credit notes booked negative
        else:
            book.add(d)
        return
    if d.doc_kind == "debit_note":
        book.add(d, kind="Invoice")  # the register has no debit-note type
        return
    if intra and d.cgst and book.once("cgst_sgst_by_a_rupee"):
        book.add(d, sgst=d.sgst + 1)
    elif intra and d.cgst and book.once("sez_igst_within_state"):
        book.add(d, supply_type="SEZ with payment", igst=tax, cgst="0", sgst="0")
    elif intra and d.cgst and book.once("igst_within_state_by_mistake", 2):
        book.add(d, igst=tax, cgst="0", sgst="0")
    elif book.once("supplier_other_state_gstin"):
        state = next(s for s in ("29", "33", "24", "07") if s != d.supplier_gstin[:2] and s in STATE_CODES)
        book.add(d, supplier_gstin=make_gstin(state, d.supplier_gstin[2:12], "1"))
    elif book.once("booked_under_other_recipient_gstin", 2) and _other_recipient(book, d):
        book.add(d, recipient_gstin=_other_recipient(book, d))
    elif len(d.doc_number) + 8 > 16 and book.once("number_over_16_characters"):
        book.add(
            d,
            doc_number=f"{d.doc_number}/{fy_start_year(d.doc_date)}-{(fy_start_year(d.doc_date) + 1) % 100}",
        )
    elif d.taxable_value > 2 and book.once("invoice_on_two_lines_without_erp_ref"):
        half = {h: (getattr(d, h) / 2).quantize(Decimal("0.01")) for h in ("igst", "cgst", "sgst", "cess")}
        first = (d.taxable_value / 2).quantize(Decimal("0.01"))
        book.add(d, erp_ref="", taxable=first, **half)
        book.add(
            d, erp_ref="", taxable=d.taxable_value - first, **{h: getattr(d, h) - v for h, v in half.items()}
        )
    elif "0" in d.doc_number and book.once("look_alike_characters"):
        book.add(d, doc_number=d.doc_number.replace("0", "O", 1))
    elif book.once("financial_year_written_otherwise"):
        number = re.sub(
            r"(?<!\d)\d{2}-\d{2}(?!\d)|(?<!\d)20\d{2}-\d{2}(?!\d)", _fy_token(d.doc_date), d.doc_number
        )
        book.add(
            d,
            doc_number=number if number != d.doc_number else f"{d.doc_number}/FY{_fy_token(d.doc_date)[2:]}",
        )
    elif d.taxable_value > 0 and book.once("nil_rated_item_of_the_bill", 2):
        book.add(d)
        book.add(
            d, taxable="1500.00", igst="0", cgst="0", sgst="0", cess="0"
        )  # a nil-rated item, its own voucher
    elif book.once("exempt_value_column"):
        book.add(d, exempt_value="2400.00")
    elif d.taxable_value > 2 and book.once("one_voucher_item_by_item"):
        ref = book.ref()
        part = (d.taxable_value * Decimal("0.6")).quantize(Decimal("0.01"))
        share = {
            h: (getattr(d, h) * Decimal("0.6")).quantize(Decimal("0.01"))
            for h in ("igst", "cgst", "sgst", "cess")
        }
        book.add(d, erp_ref=ref, taxable=part, **share)
        book.add(
            d, erp_ref=ref, taxable=d.taxable_value - part, **{h: getattr(d, h) - v for h, v in share.items()}
        )
    elif d.irn and book.once("irn_kept_number_typed_otherwise", 2):
        # The books kept the e-invoice's IRN but typed another number: the IRN pairs them.
        book.add(d, doc_number=f"PB-{i:05d}", irn=d.irn)
    elif i % DIFFERS_EVERY == 7:
        extra = Decimal("500.00")
        heads = {"igst": d.igst + 90} if d.igst else {"cgst": d.cgst + 45, "sgst": d.sgst + 45}
        book.add(d, taxable=d.taxable_value + extra, **heads)
    elif i % DIFFERS_EVERY == 13:
        book.add(d, doc_date=(d.doc_date + dt.timedelta(days=3)).strftime("%d-%m-%Y"))  # booked on receipt
    else:
        book.add(d, irn=d.irn or "")  # the ERP keeps the IRN of an e-invoice


def _other_recipient(book: _Book, d: SupplierDocument) -> str:
    """Another GSTIN of the organisation in the document's state (the Pune plant for Mumbai), or ""."""
    mine = book.gstin[d.registration_id]
    return next((g for g in book.gstin.values() if g != mine and g[:2] == mine[:2]), "")


def _only_in_books(book: _Book, docs: list[SupplierDocument]) -> None:
    """Lines no supplier reported: a supplier's invoice not uploaded yet."""
    for n, d in enumerate([d for d in docs if d.section == "b2b"][:6]):
        book.add(
            d,
            doc_number=f"NB/{n + 1:04d}",
            taxable="12500.00",
            **(
                {"igst": "2250.00", "cgst": "0", "sgst": "0"}
                if d.igst
                else {"igst": "0", "cgst": "1125.00", "sgst": "1125.00"}
            ),
            cess="0",
        )


def register_rows(
    tenant: Tenant, regs: list[Registration], periods: list[dt.date]
) -> tuple[list[list[str]], dict]:
    """The demo register's rows (template headings) and how often each case occurs."""
    book = _Book(regs)
    since, until = periods[0], add_months(periods[-1], 1) - dt.timedelta(days=1)
    for reg in regs:
        docs = list(
            SupplierDocument.objects.filter(
                tenant=tenant,
                registration=reg,
                doc_date__range=(since, until),
                vanished_at__isnull=True,
                amendments__isnull=True,
            ).order_by("id")
        )
        for i, d in enumerate(docs):
            _book(book, d, i)
        _only_in_books(book, docs)
    return book.rows, book.cases


def seed_register(
    *, tenant: Tenant, regs: list[Registration], periods: list[dt.date], actor: Actor, user
) -> DemoRegister | None:
    """Import the demo register through the upload (as the owner) and reconcile the demo periods. Nothing when
    the organisation's register already has lines (a second run)."""
    if PurchaseLine.objects.filter(tenant=tenant).exists():
        return None
    rows, _cases = register_rows(tenant, regs, periods)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADINGS)
    writer.writerows(rows)
    membership = Membership.objects.get(tenant=tenant, user=user)
    who = {"tenant": tenant, "membership": membership}
    staged = recon.stage_upload(**who, name=FILE_NAME, data=buf.getvalue().encode())
    job = recon.start_staged_import(
        **who, actor=actor, user=user, token=staged.token, name=staged.name, mapping=None
    )
    job = recon.run_import(import_id=job.pk) or job  # what the worker runs (a twin delivery does nothing)
    run = recon.start_run(
        **who,
        actor=actor,
        user=user,
        registrations=regs,
        date_from=periods[0],
        date_to=add_months(periods[-1], 1) - dt.timedelta(days=1),
    )
    done = execute_run(run_id=run.pk) or ReconRun.objects.get(pk=run.pk)
    return DemoRegister(job.created + job.updated, job.pk, done)
