"""Builders for the IMS action-rule tests: one record's facts with sensible defaults. Pure: no database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from gst.rules import Context, DocumentFacts, TaxHeads

D = dt.date
SEP_2025 = D(2025, 9, 1)
OCT_2025 = D(2025, 10, 1)
# An intra-state credit note of ₹1,000 at 18%: CGST 90 + SGST 90.
INTRA = TaxHeads(cgst=Decimal("90.00"), sgst=Decimal("90.00"))
INTER = TaxHeads(igst=Decimal("180.00"), cess=Decimal("12.00"))


def facts(section: str, **kw) -> DocumentFacts:
    kw.setdefault("twob_period", OCT_2025)
    kw.setdefault("tax", INTRA)
    return DocumentFacts(section=section, **kw)


def on(day: dt.date, **kw) -> Context:
    return Context(today=day, **kw)
