"""Schemathesis against the API's own OpenAPI schema (``/api/schema/``, drf-spectacular), in-process through the
WSGI application (no server): every operation with generated parameters and bodies, as the owner of an organisation
through an API token with every scope, must never answer 500. Bounded and deterministic (derandomized, a few
examples per operation, no example database)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from ims_project.wsgi import application
from tests.tokens import token_header

# The fuzzing phase only, deterministic (the coverage phase alone made every enumerable case: 10 minutes).
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 13,
        "generation": {"max-examples": 5, "deterministic": True},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
    }
)
SCHEMA = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True), config=CONFIG
)
SCHEMA.app = application


@pytest.fixture
def owner_token(tenant_a, reg_a1, reg_a2, alice, settings):
    settings.API_TOKEN_RATE = ""  # the fuzzer's requests are not throttled
    # Through the WSGI application itself, Django would close the test's database connection (and its
    # transaction) at the end of every request, as Django's test client prevents.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield token_header(alice, tenant_a)["HTTP_AUTHORIZATION"]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@SCHEMA.parametrize()
@settings(
    max_examples=5,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_api_operation_answers_500(case, owner_token):
    if "tenant_slug" in (case.path_parameters or {}):
        case.path_parameters["tenant_slug"] = "acme"
    case.call_and_validate(headers={"Authorization": owner_token}, checks=[not_a_server_error])
