"""A seedable generator of realistic GETINV records (docs/rules/portal-api.md §2) for demos, benchmarks and the sandbox portal.

``generate(seed=…, recipient_gstin=…, periods=[…], n_docs=…, n_suppliers=…)`` returns the records by IMS section
key (exactly the dict shape the portal returns, amounts as 2-decimal ``Decimal``) and the supplier names. The same
arguments always give the same records. What is realistic about them:

* suppliers with valid-checksum GSTINs across states (about half in the recipient's state), Indian business names,
  a few suppliers sending most documents;
* five invoice-numbering styles (``INV/2025-26/00042``, ``GST-1234``, ``25-26/A/778``, ``SI0001234``,
  ``MH/24/1001``), numbers unique per supplier, section and FY;
* 5/12/18/28 % rates, CGST = SGST within the state, IGST across states (and for SEZ supplies), cess on some
  28 % goods, invoice values sometimes rounded to the rupee;
* every section in realistic proportions; amendments point to generated originals;
* B2B invoices of e-invoicing suppliers (about three in five) carry their IRN (``irn``, the SHA-256 of the
  supplier's GSTIN, FY, document type and number, as the IRP makes it) and ``irngendate`` (the invoice date);
* supplier filing status (the latest period is partly saved, not filed), a mix of portal actions with remarks,
  ``ispendactblocked`` on credit notes before the October-2025 period, ITC-reduction declarations on accepted
  credit notes from October 2025.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from gst.gstin import make_gstin
from gst.periods import add_months, fy_start_year, parse_period

# Share of documents per section (amendment shares are of the whole; each amends a generated original).
SECTION_MIX: tuple[tuple[str, float], ...] = (
    ("b2b", 0.80),
    ("b2ba", 0.03),
    ("b2bcn", 0.07),
    ("b2bcna", 0.01),
    ("b2bdn", 0.03),
    ("b2bdna", 0.01),
    ("ecom", 0.04),
    ("ecoma", 0.01),
)
_ORIGINAL = {"b2ba": "b2b", "b2bcna": "b2bcn", "b2bdna": "b2bdn", "ecoma": "ecom"}
_NOTE_SECTIONS = frozenset({"b2bcn", "b2bcna", "b2bdn", "b2bdna"})
_CN_SECTIONS = frozenset({"b2bcn", "b2bcna"})
PENDING_RULES_CHANGE = dt.date(
    2025, 10, 1
)  # from this period credit notes may be kept pending (docs/rules/ims-actions.md §2)

# Supplier states (weights) other than the recipient's own.
_STATES = (
    ("27", 8),
    ("29", 6),
    ("33", 5),
    ("24", 5),
    ("07", 5),
    ("06", 3),
    ("09", 3),
    ("36", 3),
    ("19", 2),
    ("08", 2),
    ("32", 2),
    ("23", 2),
    ("30", 1),
    ("21", 1),
    ("03", 1),
    ("37", 1),
    ("10", 1),
)
_STATE_ABBR = {
    "27": "MH",
    "29": "KA",
    "33": "TN",
    "24": "GJ",
    "07": "DL",
    "06": "HR",
    "09": "UP",
    "36": "TS",
    "19": "WB",
    "08": "RJ",
    "32": "KL",
    "23": "MP",
    "30": "GA",
    "21": "OD",
    "03": "PB",
    "37": "AP",
    "10": "BR",
}
_NAME_FIRST = (
    "Shree",
    "Sai",
    "Balaji",
    "Ganesh",
    "Laxmi",
    "Om",
    "Jai",
    "Krishna",
    "Maruti",
    "Sunrise",
    "Bharat",
    "Hindustan",
    "National",
    "Royal",
    "Supreme",
    "Apex",
    "Galaxy",
    "Vardhman",
    "Mahalaxmi",
    "Siddhi",
    "Annapurna",
    "Kaveri",
    "Narmada",
    "Ganga",
    "Deccan",
    "Konkan",
    "Sahyadri",
    "Vishal",
    "Patel",
    "Mehta",
    "Agarwal",
    "Iyer",
    "Reddy",
    "Nair",
    "Kapoor",
    "Joshi",
    "Desai",
    "Rao",
)
_NAME_TRADE = (
    "Steel",
    "Polymers",
    "Textiles",
    "Electricals",
    "Chemicals",
    "Packaging",
    "Logistics",
    "Engineering",
    "Traders",
    "Enterprises",
    "Agro Foods",
    "Pharma",
    "Auto Components",
    "Hardware",
    "Paper Mills",
    "Fasteners",
    "Cables",
    "Castings",
    "Plastics",
    "Infotech",
    "Printers",
    "Tubes",
    "Rubber Products",
    "Glass Works",
    "Office Supplies",
    "Transport",
    "Industrial Gases",
)
_NAME_SUFFIX = (
    ("Pvt Ltd", "C"),
    ("Private Limited", "C"),
    ("Ltd", "C"),
    ("LLP", "F"),
    ("& Co", "F"),
    ("& Sons", "F"),
    ("Corporation", "C"),
    ("Industries", "C"),
    ("", "P"),
)
_REMARKS_R = (
    "Goods not received",
    "Rate differs from PO",
    "Duplicate invoice",
    "Not our GSTIN",
    "Quantity short supplied",
)
_REMARKS_P = ("Awaiting GRN", "Price under discussion", "Credit note expected", "Checking with purchase team")
_RATES = ((Decimal(18), 55), (Decimal(12), 15), (Decimal(5), 15), (Decimal(28), 15))
_CENT = Decimal("0.01")
_RUPEE = Decimal("1")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class GeneratedData:
    records: dict[str, list[dict]]  # section key → GETINV records
    supplier_names: dict[str, str]  # supplier GSTIN → trade name

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.records.values())


@dataclass
class _Supplier:
    gstin: str
    name: str
    style: int
    prefix: str
    letter: str
    counters: dict[tuple[str, int], int] = field(default_factory=dict)


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def e_invoicing(gstin: str) -> bool:
    """Whether the supplier issues e-invoices (about three in five, fixed per GSTIN; no random draw, so the
    records' other values do not change with it)."""
    return hashlib.sha256(gstin.encode()).digest()[0] < 154


def irn_of(gstin: str, number: str, day: dt.date, doc_type: str = "INV") -> str:
    """The IRN of an e-invoice: the SHA-256 of the supplier's GSTIN, the FY, the document type and the number."""
    fy = fy_start_year(day)
    text = f"{gstin}{fy}-{(fy + 1) % 100:02d}{doc_type}{number}"
    return hashlib.sha256(text.encode()).hexdigest()


def _periods(periods: Iterable[str | dt.date]) -> list[dt.date]:
    out = [p if isinstance(p, dt.date) else parse_period(p) for p in periods]
    if not out:
        raise ValueError("at least one tax period is needed")
    return sorted(p.replace(day=1) for p in out)


def _make_suppliers(rng: random.Random, recipient_state: str, n: int) -> list[_Supplier]:
    suppliers: list[_Supplier] = []
    seen: set[str] = set()
    states = [s for s, _ in _STATES if s != recipient_state]
    weights = [w for s, w in _STATES if s != recipient_state]
    i = 0
    while len(suppliers) < n:
        i += 1
        first, trade = rng.choice(_NAME_FIRST), rng.choice(_NAME_TRADE)
        suffix, holder = rng.choice(_NAME_SUFFIX)
        name = " ".join(x for x in (first, trade, suffix) if x)
        state = recipient_state if rng.random() < 0.5 else rng.choices(states, weights)[0]
        pan = (
            "".join(rng.choice(_LETTERS) for _ in range(3))
            + holder
            + first[0]
            + f"{rng.randrange(1, 10000):04d}"
            + rng.choice(_LETTERS)
        )
        gstin = make_gstin(state, pan, "1" if rng.random() < 0.9 else str(rng.randrange(2, 4)))
        if gstin in seen:
            continue
        seen.add(gstin)
        suppliers.append(
            _Supplier(
                gstin,
                name,
                rng.randrange(5),
                "".join(rng.choice(_LETTERS) for _ in range(3)),
                rng.choice(_LETTERS),
            )
        )
    return suppliers


def _number(s: _Supplier, section: str, day: dt.date) -> str:
    """A document number in the supplier's style, at most 16 characters as the portal requires
    (docs/rules/documents.md §1) for up to 99,999 documents of a kind a year."""
    fy = fy_start_year(day)
    kind = "CN" if section in _CN_SECTIONS else "DN" if section in _NOTE_SECTIONS else ""
    key = (kind, fy)
    n = s.counters.get(key, 0) + 1
    s.counters[key] = n
    if kind:
        return (
            f"{kind}/{fy % 100:02d}-{(fy + 1) % 100:02d}/{n:05d}",
            f"{kind}-{n}",
            f"{s.letter}{kind}{n:06d}",
            f"{kind}{fy % 100:02d}/{n}",
            f"{kind}-{s.prefix}-{n:03d}",
        )[s.style]
    return (
        f"INV/{fy % 100:02d}-{(fy + 1) % 100:02d}/{n:05d}",
        f"{s.prefix}-{n}",
        f"{fy % 100:02d}-{(fy + 1) % 100:02d}/{s.letter}/{n}",
        f"SI{n:07d}",
        f"{_STATE_ABBR.get(s.gstin[:2], s.prefix[:2])}/{fy % 100:02d}/{1000 + n}",
    )[s.style]


def iter_records(
    *,
    seed: int,
    recipient_gstin: str,
    periods: Iterable[str | dt.date],
    n_docs: int,
    n_suppliers: int,
) -> Iterator[tuple[str, dict]]:
    """Yield ``(section, record)`` pairs one by one (constant memory for a million documents)."""
    rng = random.Random(seed)
    recipient_state = recipient_gstin[:2]
    plist = _periods(periods)
    suppliers = _make_suppliers(rng, recipient_state, max(1, n_suppliers))
    # A few suppliers send most documents (Zipf-like weights).
    cum_weights, total = [], 0.0
    for i in range(len(suppliers)):
        total += 1.0 / (i + 1) ** 0.8
        cum_weights.append(total)
    sections = [s for s, _ in SECTION_MIX]
    section_cum, acc = [], 0.0
    for _, share in SECTION_MIX:
        acc += share
        section_cum.append(acc)
    # Originals that may still be amended: (supplier, number, date text, date, taxable value, tax, supply type).
    originals: dict[str, list[tuple]] = {s: [] for s in _ORIGINAL.values()}
    rand, choices, getrandbits = rng.random, rng.choices, rng.getrandbits
    latest = plist[-1]

    for i in range(n_docs):
        period = plist[i * len(plist) // n_docs]
        section = choices(sections, cum_weights=section_cum)[0]
        orig = None
        if section in _ORIGINAL:
            pool = originals[_ORIGINAL[section]]
            if pool:
                at = int(rand() * len(pool))
                orig, pool[at] = pool[at], pool[-1]
                pool.pop()
            else:
                section = _ORIGINAL[section]  # nothing to amend yet: an original instead
        if orig is not None:
            supplier, day = orig[0], orig[3]
        else:
            supplier = choices(suppliers, cum_weights=cum_weights)[0]
            # Most documents are dated in their return period; some are late (up to two months earlier).
            back = 0 if rand() < 0.85 else (1 if rand() < 0.7 else 2)
            month = add_months(period, -back)
            last_day = (add_months(month, 1) - dt.timedelta(days=1)).day
            day = month.replace(day=1 + int(rand() * last_day))
        rec = _record(rng, supplier, section, day, period, recipient_state, latest, orig)
        if orig is None and section in originals and rand() < 0.5:
            pool = originals[section]
            number_field, date_field = ("nt_num", "nt_dt") if section in _NOTE_SECTIONS else ("inum", "idt")
            entry = (
                supplier,
                rec[number_field],
                rec[date_field],
                day,
                rec["txval"],
                rec["iamt"] + rec["camt"] + rec["samt"],
                rec["inv_typ"],
            )
            if len(pool) < 50_000:
                pool.append(entry)
            else:
                pool[int(rand() * len(pool))] = entry
        rec["hash"] = f"{getrandbits(256):064x}"
        yield section, rec


def _record(
    rng,
    supplier: _Supplier,
    section: str,
    day: dt.date,
    period: dt.date,
    recipient_state: str,
    latest: dt.date,
    orig,
) -> dict:
    rand = rng.random
    is_note = section in _NOTE_SECTIONS
    is_cn = section in _CN_SECTIONS
    inv_typ = "R"
    r = rand()
    if r < 0.01:
        inv_typ = "SEZWP" if rand() < 0.5 else "SEZWOP"
    elif r < 0.015:
        inv_typ = "DE"
    if orig is not None:
        _sup, _num, _date, _day, base_txval, base_tax, inv_typ = orig
        txval = _money(base_txval * Decimal(0.8 + rand() * 0.4))
        rate = (base_tax * 100 / base_txval).quantize(_RUPEE) if base_txval else Decimal(18)
    else:
        scale = 0.15 if is_note else 1.0
        txval = _money(Decimal(int(rng.lognormvariate(10.0, 1.2) * scale * 100)) / 100 + 100)
        rate = rng.choices([r for r, _ in _RATES], [w for _, w in _RATES])[0]
    tax = _money(txval * rate / 100)
    intra = supplier.gstin[:2] == recipient_state and inv_typ == "R"
    if intra:
        camt = samt = _money(tax / 2)
        iamt = Decimal("0.00")
    else:
        iamt, camt, samt = tax, Decimal("0.00"), Decimal("0.00")
    if inv_typ == "SEZWOP":
        iamt = Decimal("0.00")
    cess = _money(txval * Decimal("0.12")) if rate == 28 and rand() < 0.1 else Decimal("0.00")
    val = txval + iamt + camt + samt + cess
    if rand() < 0.3:
        val = val.quantize(_RUPEE, rounding=ROUND_HALF_UP) + Decimal("0.00")  # round-off on the invoice

    action = "N"
    r = rand()
    blocked = is_cn and period < PENDING_RULES_CHANGE
    if r < 0.28:
        action = "A"
    elif r < 0.33:
        action = "R"
    elif r < 0.40 and not blocked:
        action = "P"
    filed = period < latest or rand() < 0.55
    number_field, date_field = ("nt_num", "nt_dt") if is_note else ("inum", "idt")
    number = orig[1] if orig is not None else _number(supplier, section, day)
    rec: dict = {
        "stin": supplier.gstin,
        number_field: number,
        date_field: f"{day.day:02d}-{day.month:02d}-{day.year}",
    }
    if orig is not None:
        o_num, o_dt = ("ont_num", "ont_dt") if is_note else ("oinum", "oidt")
        rec[o_num] = orig[1]
        rec[o_dt] = orig[2]
    rec.update(
        {
            "inv_typ": inv_typ,
            "srcform": "R1" if rand() < 0.97 else "GSTR1A",
            "rtnprd": f"{period.month:02d}{period.year}",
            "srcfilstatus": "Filed" if filed else "Not Filed",
            "val": val,
            "pos": recipient_state,
            "txval": txval,
            "iamt": iamt,
            "camt": camt,
            "samt": samt,
            "cess": cess,
            "action": action,
            "ispendactblocked": "Y" if blocked else "N",
        }
    )
    if section == "b2b" and e_invoicing(supplier.gstin):
        rec["irn"] = irn_of(supplier.gstin, number, day)
        rec["irngendate"] = rec[date_field]
    if action in ("R", "P") and rand() < 0.4:
        rec["remarks"] = rng.choice(_REMARKS_R if action == "R" else _REMARKS_P)
        rec["isRemarksBlocked"] = "N"
    if is_cn and action == "A" and period >= PENDING_RULES_CHANGE:
        r = rand()
        if r < 0.6:
            rec["itcRedReq"] = "Y"  # full reversal: no declared values
        elif r < 0.85:
            part = Decimal(0.3 + rand() * 0.6)
            rec["itcRedReq"] = "Y"
            rec["declIgst"] = _money(iamt * part)
            rec["declCgst"] = rec["declSgst"] = _money(camt * part)
            rec["declCess"] = Decimal("0.00")
        else:
            rec["itcRedReq"] = "N"
        rec["isItcRedReqBlocked"] = "N"
    return rec


def generate(
    *,
    seed: int,
    recipient_gstin: str,
    periods: Iterable[str | dt.date],
    n_docs: int,
    n_suppliers: int,
) -> GeneratedData:
    """Every record at once, by section (all eight sections present, possibly empty), with supplier names."""
    plist = _periods(periods)
    records: dict[str, list[dict]] = {s: [] for s, _ in SECTION_MIX}
    for section, rec in iter_records(
        seed=seed, recipient_gstin=recipient_gstin, periods=plist, n_docs=n_docs, n_suppliers=n_suppliers
    ):
        records[section].append(rec)
    return GeneratedData(
        records, supplier_names(seed=seed, recipient_gstin=recipient_gstin, n_suppliers=n_suppliers)
    )


def supplier_names(*, seed: int, recipient_gstin: str, n_suppliers: int) -> dict[str, str]:
    """GSTIN → trade name of the suppliers :func:`iter_records` uses with the same arguments."""
    rng = random.Random(seed)
    return {s.gstin: s.name for s in _make_suppliers(rng, recipient_gstin[:2], max(1, n_suppliers))}


def batches(
    *,
    seed: int,
    recipient_gstin: str,
    periods: Iterable[str | dt.date],
    n_docs: int,
    n_suppliers: int,
    batch_size: int,
) -> Iterator[dict[str, list[dict]]]:
    """The records of :func:`iter_records` in batches of ``batch_size``, each shaped like a GETINV response."""
    batch: dict[str, list[dict]] = {}
    n = 0
    for section, rec in iter_records(
        seed=seed, recipient_gstin=recipient_gstin, periods=periods, n_docs=n_docs, n_suppliers=n_suppliers
    ):
        batch.setdefault(section, []).append(rec)
        n += 1
        if n == batch_size:
            yield batch
            batch, n = {}, 0
    if batch:
        yield batch
