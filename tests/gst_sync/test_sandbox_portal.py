"""Sandbox portal behaviour that is not about the client: loopback only, state kept across restarts."""

from __future__ import annotations

import pytest

from tests.gst_sync.conftest import RECIPIENT, doc
from tools.sandbox_portal.portal import Portal, SandboxError
from tools.sandbox_portal.server import SandboxServer


def test_the_sandbox_refuses_to_listen_beyond_loopback():
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(Portal(docs=1), host="0.0.0.0")  # noqa: S104 - that is the point


def test_state_file_keeps_documents_and_actions_across_restarts(tmp_path):
    state = tmp_path / "sandbox.json"
    first = Portal(docs=0, gstins=(RECIPIENT,), state_file=str(state))
    first.seed_docs({"gstin": RECIPIENT, "records": {"b2b": [doc("KA-1")]}})
    first.set_faults({"supplier_edit": {"gstin": RECIPIENT, "section": "b2b", "number": "KA-1"}})
    second = Portal(docs=0, gstins=(RECIPIENT,), state_file=str(state))
    [record] = second.docs[RECIPIENT]["b2b"]
    assert record["inum"] == "KA-1"
    assert record["txval"] == 50100


def test_unknown_section_is_a_portal_error_not_a_crash():
    with pytest.raises(SandboxError) as exc:
        Portal(docs=1).getinv(RECIPIENT, "XYZ")
    assert exc.value.code == "GEN5001"
