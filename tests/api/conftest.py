import pytest

from tests.documents.helpers import catalogue


@pytest.fixture
def docs(reg_a1, reg_a2, reg_b1):
    return catalogue(reg_a1, reg_a2, reg_b1)
