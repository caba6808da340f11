"""GETINV-shaped documents for the sandbox portal.

Uses ``tools.generator.generate`` (realistic data) when that module is present with the expected signature;
otherwise a small built-in generator. Deterministic for a given seed. Pure: no ORM.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from decimal import Decimal
from typing import Any

from gst.gstin import make_gstin
from gst.sections import SECTIONS, DocKind, Section
from tools import generator

RATES = (Decimal("5"), Decimal("12"), Decimal("18"), Decimal("28"))
STATES = ("27", "29", "24", "07", "33", "09")
# (section, weight): mostly invoices, some notes and amendments.
MIX = (
    ("b2b", 70),
    ("b2bcn", 8),
    ("b2bdn", 6),
    ("b2ba", 6),
    ("b2bcna", 3),
    ("b2bdna", 2),
    ("ecom", 4),
    ("ecoma", 1),
)
PENDING_BLOCKED_SECTIONS = {"b2bcn", "b2bcna"}
CENT = Decimal("0.01")


def record_hash(record: dict[str, Any]) -> str:
    body = {
        k: v
        for k, v in record.items()
        if k not in ("hash", "action", "remarks", "itcRedReq") and not k.startswith("decl")
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def generate(recipient_gstin: str, *, docs: int, seed: int, period: str = "102025") -> dict[str, list[dict]]:
    out = _external(recipient_gstin, docs=docs, seed=seed, period=period)
    if out is None:
        out = builtin(recipient_gstin, docs=docs, seed=seed, period=period)
    out.update(other_tabs(recipient_gstin, docs=docs, seed=seed, period=period))
    return out


PORTS = ("INNSA1", "INMAA1", "INBOM4", "INDEL4", "INMUN1")


def other_tabs(
    recipient_gstin: str, *, docs: int, seed: int, period: str = "102025"
) -> dict[str, list[dict]]:
    """Bills of entry and ISD documents (docs/rules/sections.md §4; shapes our reading): of each kind one per 50
    documents (one from 20 documents, none below), with a value amendment and a GSTIN amendment of a bill of entry,
    an ISD amendment and an ISD document whose ITC is not eligible."""
    n = docs // 50 if docs >= 50 else (1 if docs >= 20 else 0)
    if not n:
        return {}
    rng = random.Random(seed * 7919 + 11)  # noqa: S311 - test data
    month, year = int(period[:2]), int(period[2:])
    state = recipient_gstin[:2]
    isd = make_gstin(state, recipient_gstin[2:12], "9")  # the same PAN's ISD registration
    sez = make_gstin(rng.choice(STATES), _pan(rng))
    flags = {"action": "N", "ispendactblocked": "N", "isRemarksBlocked": "N"}
    out: dict[str, list[dict]] = {k: [] for k in ("impg", "impgsez", "isd", "isdcn")}

    def day() -> str:
        return f"{rng.randint(1, 28):02d}-{month:02d}-{year}"

    def amount(low: int, high: int) -> Decimal:
        return (Decimal(rng.randint(low, high)) + Decimal(rng.randint(0, 99)) / 100).quantize(CENT)

    for i in range(n):
        for key in ("impg", "impgsez"):
            taxable = amount(20000, 2000000)
            boe: dict[str, Any] = {
                "boenum": str(rng.randint(1000000, 9999999)),
                "boedt": day(),
                "portcode": rng.choice(PORTS),
                "txval": taxable,
                "iamt": (taxable * rng.choice(RATES) / 100).quantize(CENT),
                "cess": Decimal("0.00"),
                **flags,
            }
            boe["refdt"] = boe["boedt"]
            if key == "impgsez":
                boe["stin"] = sez
            out[key].append(boe)
        for key, prefix in (("isd", "ISD"), ("isdcn", "ISDCN")):
            tax = amount(1000, 200000) if key == "isd" else amount(100, 20000)
            half = (tax / 2).quantize(CENT)
            doc: dict[str, Any] = {
                "stin": isd,
                "docnum": f"{prefix}/{seed % 100:02d}/{i + 1:04d}",
                "docdt": day(),
                "rtnprd": period,
                "srcfilstatus": "Filed",
                "itcelg": "N" if key == "isd" and i % 5 == 4 else "Y",
                "iamt": Decimal("0.00"),
                "camt": half,
                "samt": half,
                "cess": Decimal("0.00"),
                **flags,
            }
            out[key].append(doc)
    first = out["impg"][0]
    amended = {**first, "oboenum": first["boenum"], "oboedt": first["boedt"], "boenum": first["boenum"] + "A"}
    amended["txval"] = (first["txval"] * Decimal("1.05")).quantize(CENT)
    amended["iamt"] = (first["iamt"] * Decimal("1.05")).quantize(CENT)
    moved = {
        **out["impgsez"][0],
        "oboenum": out["impgsez"][0]["boenum"],
        "oboedt": out["impgsez"][0]["boedt"],
    }
    moved.update(boenum=moved["boenum"] + "G", ogstin=recipient_gstin)  # a GSTIN amendment away from us
    isda = {**out["isd"][0], "odocnum": out["isd"][0]["docnum"], "odocdt": out["isd"][0]["docdt"]}
    isda["docnum"] = isda["docnum"] + "A"
    out.update(impga=[amended], impgseza=[moved], isda=[isda])
    return {k: [_with_hash(dict(r)) for r in v] for k, v in out.items()}


def _external(recipient_gstin: str, *, docs: int, seed: int, period: str) -> dict[str, list[dict]] | None:
    """``tools.generator.generate`` (the product's realistic generator) when it is there and fits."""
    try:
        data = generator.generate(
            seed=seed,
            recipient_gstin=recipient_gstin,
            periods=[period],
            n_docs=docs,
            n_suppliers=max(3, docs // 20 + 1),
        )
        records = data.records
    except (AttributeError, TypeError, ValueError):
        return None
    if not isinstance(records, dict) or not all(k in SECTIONS for k in records):
        return None
    return {k: [_with_hash(dict(r)) for r in v] for k, v in records.items()}


def _with_hash(rec: dict[str, Any]) -> dict[str, Any]:
    rec.setdefault("hash", record_hash(rec))
    return rec


def builtin(recipient_gstin: str, *, docs: int, seed: int, period: str = "102025") -> dict[str, list[dict]]:
    rng = random.Random(seed)  # noqa: S311 - test data
    sections, weights = zip(*MIX, strict=True)
    suppliers = [make_gstin(rng.choice(STATES), _pan(rng)) for _ in range(max(3, docs // 20 + 1))]
    out: dict[str, list[dict]] = {}
    month, year = int(period[:2]), int(period[2:])
    for n in range(docs):
        key = rng.choices(sections, weights)[0]
        info = SECTIONS[Section(key)]
        stin = rng.choice(suppliers)
        taxable = (Decimal(rng.randint(500, 500000)) + Decimal(rng.randint(0, 99)) / 100).quantize(CENT)
        rate = rng.choice(RATES)
        tax = (taxable * rate / 100).quantize(CENT)
        pos = recipient_gstin[:2]
        intra = stin[:2] == pos
        half = (tax / 2).quantize(CENT)
        day = rng.randint(1, 28)
        date = f"{day:02d}-{month:02d}-{year}"
        prefix = (
            "CN" if info.kind == DocKind.CREDIT_NOTE else "DN" if info.kind == DocKind.DEBIT_NOTE else "INV"
        )
        number = f"{prefix}/{seed % 1000:03d}/{n + 1:05d}"
        rec: dict[str, Any] = {
            "stin": stin,
            info.number_field: number,
            info.date_field: date,
            "inv_typ": "R",
            "srcform": "R1",
            "rtnprd": period,
            "srcfilstatus": "Filed" if rng.random() < 0.9 else "Not Filed",
            "val": taxable + (half * 2 if intra else tax),
            "pos": pos,
            "txval": taxable,
            "iamt": Decimal("0") if intra else tax,
            "camt": half if intra else Decimal("0"),
            "samt": half if intra else Decimal("0"),
            "cess": Decimal("0"),
            "action": "N",
            "ispendactblocked": "Y" if key in PENDING_BLOCKED_SECTIONS and rng.random() < 0.5 else "N",
            "isRemarksBlocked": "N",
        }
        if info.amendment:
            rec[info.orig_number_field] = number + "-O"
            rec[info.orig_date_field] = f"{max(day - 3, 1):02d}-{month:02d}-{year}"
        elif key == "b2b" and generator.e_invoicing(stin):
            rec["irn"] = generator.irn_of(stin, number, dt.date(year, month, day))
            rec["irngendate"] = date
        rec["hash"] = record_hash(rec)
        out.setdefault(key, []).append(rec)
    return out


def _pan(rng: random.Random) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    first = "".join(rng.choice(letters) for _ in range(3))
    return f"{first}C{rng.choice(letters)}{rng.randint(0, 9999):04d}{rng.choice(letters)}"
