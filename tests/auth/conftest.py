import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def fresh_request_limits():
    """Each test starts with no password-reset requests counted (the test settings keep them in memory)."""
    caches["limits"].clear()
    yield
    caches["limits"].clear()
