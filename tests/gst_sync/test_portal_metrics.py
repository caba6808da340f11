"""Every request to the GST portal is counted on /metrics by API action and outcome (docs/operations.md §2)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import OTP, RECIPIENT, USERNAME

pytestmark = pytest.mark.django_db


def _calls(client, action: str, outcome: str) -> float:
    text = client.get("/metrics").content.decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ims_portal_calls_total" and sample.labels == {
                "action": action,
                "outcome": outcome,
            }:
                return sample.value
    return 0.0


def test_portal_calls_are_counted_by_action_and_outcome(client, adapter, sandbox):
    otp_before = _calls(client, "OTPREQUEST", "200")
    auth_before = _calls(client, "AUTHTOKEN", "200")
    adapter.request_otp(gstin=RECIPIENT, username=USERNAME)
    adapter.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
    adapter.request_otp(gstin=RECIPIENT, username=USERNAME)
    assert _calls(client, "OTPREQUEST", "200") == otp_before + 2
    assert _calls(client, "AUTHTOKEN", "200") == auth_before + 1
    text = client.get("/metrics").content.decode()
    assert 'ims_portal_call_seconds_count{action="AUTHTOKEN"}' in text
