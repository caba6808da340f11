"""The sandbox portal fixtures of the portal tests, for the batch tests here."""

from tests.gst_sync.conftest import adapter, portal, sandbox, sandbox_url  # noqa: F401
