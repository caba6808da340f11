"""Fill the sandbox portal with the demo organisation's documents (``make run``), so that connecting a demo GSTIN
with the sandbox OTP and pressing "Sync now" finds the same documents the demo loaded — plus anything the
sandbox's suppliers change later."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
from django.utils import timezone

from demo.services import DEMO_PAN, DEMO_REGISTRATIONS, demo_periods, demo_records
from gst.gstin import make_gstin

SANDBOX_OTP = "575757"


def demo_portal_records(today=None) -> dict[str, dict]:
    """GSTIN → {section: [GETINV records]} exactly as seed_demo generated them."""
    periods = demo_periods(today or timezone.localdate())
    out = {}
    for state, entity, _name, _freq, n_docs, n_suppliers, seed in DEMO_REGISTRATIONS:
        gstin = make_gstin(state, DEMO_PAN, entity)
        out[gstin] = demo_records(gstin, periods, n_docs, n_suppliers, seed)[0]
    return out


def seed_sandbox(base_url: str, today=None) -> int:
    """Replace the sandbox's documents of the demo GSTINs; returns how many documents it now holds."""
    total = 0
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for gstin, records in demo_portal_records(today).items():
            body = {"gstin": gstin, "records": records}
            http.post(
                "/__sandbox__/seed", content=_dumps(body), headers={"Content-Type": "application/json"}
            ).raise_for_status()
            total += sum(len(v) for v in records.values())
    return total


def _dumps(body) -> str:
    return json.dumps(body, default=lambda v: str(v) if isinstance(v, Decimal) else v.isoformat())
