"""How the OpenAPI schema (drf-spectacular) describes the API's token authentication: ``Authorization: Token <key>``
(docs/access.md §1). Registered by importing this module in ``TenancyConfig.ready``."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenancy.api.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=self.target.keyword
        )
