"""Shared fixtures of the reconciliation tests: a finished run covering every outcome, uploads in a temp dir."""

from tests.reconciliation.test_register_and_engine import media, reconciled  # noqa: F401 - fixtures
