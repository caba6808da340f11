"""REST API of the matching rules (under /api/v1/t/<slug>/reconciliation/rules/): the version in force with the
tolerance each tax head gets, its history, and saving a new version (owners and admins)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api import TenantAPIMixin
from tenancy.roles import Scope

from . import selectors, services
from .domain.rules import HEADS, RuleSet

RULES_OUT = inline_serializer(
    "ReconRules",
    {
        "version": serializers.IntegerField(),
        "created_by": serializers.CharField(),
        "params": serializers.DictField(),
        "head_tolerances": serializers.DictField(),
        "history": serializers.ListField(child=serializers.DictField()),
    },
)
RULES_IN = inline_serializer("ReconRulesIn", {"params": serializers.DictField()})


def rules_body(*, tenant, user) -> dict:
    current = services.active_rules(tenant=tenant)
    rules = RuleSet.from_json(current.params)
    history = [
        {**v, "created_at": v["created_at"].isoformat()}
        for v in selectors.rule_history(tenant=tenant, user=user, limit=20)
    ]
    return {
        "version": current.version,
        "created_by": current.created_by,
        "params": {**{f"{h}_{k}": None for h in HEADS for k in ("abs", "pct")}, **rules.as_json()},
        "head_tolerances": {h: {"abs": str(rules.head_abs(h)), "pct": str(rules.head_pct(h))} for h in HEADS},
        "history": history,
    }


class RulesView(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ, "PUT": Scope.ACT}

    @extend_schema(
        summary="Matching rules in force, the tolerance of each tax head, and their history",
        responses={200: RULES_OUT},
    )
    def get(self, request, tenant_slug):
        return Response(rules_body(tenant=self.tenant, user=request.user))

    @extend_schema(
        request=RULES_IN,
        responses={200: RULES_OUT},
        summary="Save a new version of the matching rules (owners and admins)",
        description="``params`` are merged over the rules in force; a per-head tolerance "
        "(``cgst_abs``, ``igst_pct``, …) set to null inherits ``amount_abs``/``amount_pct``. "
        "Nothing changed: the version in force is returned. 400 names the bad rule.",
    )
    def put(self, request, tenant_slug):
        params = request.data.get("params") if isinstance(request.data, dict) else None
        if not isinstance(params, dict):
            return Response(
                {"code": "invalid", "field": "params", "message": "Give the rules as params {…}."}, status=400
            )
        current = services.active_rules(tenant=self.tenant)
        try:
            services.save_rules(
                tenant=self.tenant,
                actor=self.actor,
                membership=self.membership,
                params={**current.params, **params},
            )
        except services.Forbidden as e:
            return Response({"code": "forbidden", "message": str(e)}, status=403)
        except services.ReconError as e:
            return Response({"code": e.code, "field": e.field, "message": e.message}, status=400)
        return Response(rules_body(tenant=self.tenant, user=request.user))
