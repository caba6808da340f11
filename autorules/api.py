"""REST API of auto-action rules (under /api/v1/t/<slug>/autorules/): list, add, change, delete, dry run, run now,
and the record of runs. Approvers, admins and owners only, like the pages, and only the rules acting on GSTINs the
user may act on (docs/access.md §2). Errors: 400 ``{code, field, message}``, 403 role or a rule acting on a GSTIN
the user lacks (run, change, delete), 404 a rule of another tenant or, on reading, one acting on a GSTIN the user
lacks."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ims_project.params import as_id, is_id
from tenancy.api import TenantAPIMixin
from tenancy.roles import Capability, Scope, can

from . import selectors, services
from .conditions import describe
from .models import RULE_ACTIONS, AutoRule, AutoRuleRun

ERROR = inline_serializer(
    "AutoRuleErrorOut",
    {"code": serializers.CharField(), "field": serializers.CharField(), "message": serializers.CharField()},
)


class RuleSerializer(serializers.ModelSerializer):
    conditions = serializers.ListField(
        child=serializers.DictField(),
        help_text=(
            "All must hold. Types: section {values}, filing_status {value: filed|not_filed}, value_range {min, max}, "
            "supplier_in {gstins}, reconciliation {outcomes: exact|tolerance|manual|probable|mismatch|duplicate|"
            "missing_in_register, or the groups matched|mismatched|missing_in_books}."
        ),
    )
    action = serializers.ChoiceField(choices=RULE_ACTIONS)
    description = serializers.SerializerMethodField()

    class Meta:
        model = AutoRule
        fields = [
            "id",
            "name",
            "enabled",
            "priority",
            "action",
            "remarks",
            "itc_answer",
            "conditions",
            "description",
            "owner_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner_id", "created_at", "updated_at"]
        extra_kwargs = {
            "enabled": {"default": True},
            "priority": {"default": 100},
            "remarks": {"default": ""},
            "itc_answer": {"default": "Y"},
        }

    def get_description(self, rule) -> list[str]:
        return describe(rule.conditions)


class RunSerializer(serializers.ModelSerializer):
    gstin = serializers.CharField(source="registration.gstin", default=None)

    class Meta:
        model = AutoRuleRun
        fields = [
            "id",
            "rule_id",
            "trigger",
            "source",
            "gstin",
            "status",
            "matched",
            "applied",
            "already",
            "refused",
            "suggested",
            "bulk_runs",
            "message",
            "created_at",
        ]


DRY_RUN = inline_serializer(
    "AutoRuleDryRunOut",
    {
        "rule": serializers.IntegerField(),
        "matched": serializers.IntegerField(),
        "apply": serializers.IntegerField(),
        "already": serializers.IntegerField(),
        "refused": serializers.IntegerField(),
        "refusals": serializers.DictField(),
        "error": serializers.CharField(),
        "note": serializers.CharField(),
        "reconciliation_runs": serializers.ListField(child=serializers.IntegerField()),
    },
)


def _error(exc: services.RuleError, status: int = 400) -> Response:
    return Response({"code": "invalid", "field": exc.field, "message": exc.message}, status=status)


def _forbidden() -> Response:
    return Response(
        {
            "code": "forbidden",
            "field": None,
            "message": "Only approvers, admins and owners may manage auto-action rules.",
        },
        status=403,
    )


def _not_found() -> Response:
    return Response({"code": "not_found", "field": None, "message": "No such rule."}, status=404)


def _out_of_reach() -> Response:
    return Response({"code": "forbidden", "field": None, "message": selectors.OUT_OF_REACH}, status=403)


class _RuleAPI(TenantAPIMixin, APIView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.allowed = can(self.membership.role, Capability.APPROVE)

    def _visible(self, rules) -> list[AutoRule]:
        return selectors.rules_within_reach(
            tenant=self.tenant, user=self.request.user, membership=self.membership, rules=list(rules)
        )

    def _rule(self, pk) -> AutoRule | None:
        """A rule to read: None (404) unless it acts only on GSTINs the user may act on."""
        rule = selectors.rules_for(tenant=self.tenant).filter(pk=pk).first()
        return rule if rule is not None and self._visible([rule]) else None

    def _rule_to_change(self, pk) -> tuple[AutoRule | None, Response | None]:
        """A rule to run, change or delete: 404 if there is none, 403 if it acts on GSTINs the user lacks."""
        rule = selectors.rules_for(tenant=self.tenant).filter(pk=pk).first()
        if rule is None:
            return None, _not_found()
        if not self._visible([rule]):
            return None, _out_of_reach()
        return rule, None

    def _save(self, request, rule: AutoRule | None) -> Response:
        body = RuleSerializer(rule, data=request.data, partial=rule is not None)
        body.is_valid(raise_exception=True)
        current = (
            {
                "name": rule.name,
                "action": rule.action,
                "remarks": rule.remarks,
                "itc_answer": rule.itc_answer,
                "enabled": rule.enabled,
                "priority": rule.priority,
                "conditions": rule.conditions,
            }
            if rule
            else {}
        )
        values = {**current, **{k: v for k, v in body.validated_data.items() if k in services.FIELDS}}
        kwargs = {"tenant": self.tenant, "actor": self.actor, "owner": request.user, **values}
        try:
            rule = services.update_rule(rule=rule, **kwargs) if rule else services.create_rule(**kwargs)
        except services.RuleError as exc:
            return _error(exc)
        return Response(RuleSerializer(rule).data, status=200 if current else 201)


class RuleList(_RuleAPI):
    token_scopes = {"GET": Scope.READ, "POST": Scope.ACT}

    @extend_schema(
        responses={200: RuleSerializer(many=True), 403: ERROR}, summary="Auto-action rules, in run order"
    )
    def get(self, request, tenant_slug):
        if not self.allowed:
            return _forbidden()
        rules = self._visible(selectors.rules_for(tenant=self.tenant))
        return Response({"results": RuleSerializer(rules, many=True).data})

    @extend_schema(
        request=RuleSerializer,
        responses={201: RuleSerializer, 400: ERROR, 403: ERROR},
        summary="Add a rule (it acts with your access and role)",
    )
    def post(self, request, tenant_slug):
        if not self.allowed:
            return _forbidden()
        return self._save(request, None)


class RuleDetail(_RuleAPI):
    token_scopes = {"GET": Scope.READ, "PATCH": Scope.ACT, "DELETE": Scope.ACT}

    @extend_schema(responses={200: RuleSerializer, 404: ERROR}, summary="One rule")
    def get(self, request, tenant_slug, pk):
        if not self.allowed:
            return _forbidden()
        rule = self._rule(pk)
        return Response(RuleSerializer(rule).data) if rule else _not_found()

    @extend_schema(
        request=RuleSerializer,
        responses={200: RuleSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Change a rule (you become its owner)",
    )
    def patch(self, request, tenant_slug, pk):
        if not self.allowed:
            return _forbidden()
        rule, refused = self._rule_to_change(pk)
        return refused or self._save(request, rule)

    @extend_schema(responses={204: None, 403: ERROR, 404: ERROR}, summary="Delete a rule")
    def delete(self, request, tenant_slug, pk):
        if not self.allowed:
            return _forbidden()
        rule, refused = self._rule_to_change(pk)
        if refused:
            return refused
        services.delete_rule(tenant=self.tenant, actor=self.actor, rule=rule)
        return Response(status=204)


class RuleDryRun(_RuleAPI):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={200: DRY_RUN, 403: ERROR, 404: ERROR},
        summary="What the rule would do now (nothing is changed)",
    )
    def get(self, request, tenant_slug, pk):
        if not self.allowed:
            return _forbidden()
        rule = self._rule(pk)
        if rule is None:
            return _not_found()
        d = selectors.dry_run(tenant=self.tenant, rule=rule)
        return Response(
            {
                "rule": rule.pk,
                "matched": d.matched,
                "apply": d.apply,
                "already": d.already,
                "refused": d.refused,
                "refusals": d.refusals,
                "error": d.error,
                "note": d.note,
                "reconciliation_runs": d.recon_runs,
            }
        )


class RuleRun(_RuleAPI):
    token_scopes = {"POST": Scope.ACT}

    @extend_schema(
        request=None,
        responses={200: RunSerializer, 403: ERROR, 404: ERROR},
        summary=(
            "Run the rule now on its owner's GSTINs, audited as you (through the bulk action and approvals); "
            "403 if it acts on a GSTIN you may not act on"
        ),
    )
    def post(self, request, tenant_slug, pk):
        if not self.allowed:
            return _forbidden()
        rule, refused = self._rule_to_change(pk)
        if refused:
            return refused
        run = services.run_rule(tenant=self.tenant, rule=rule, trigger="manual", runner=self.actor)
        return Response(RunSerializer(run).data)


class RuleRuns(_RuleAPI):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={200: RunSerializer(many=True), 403: ERROR},
        summary="Recent runs of every rule (`?rule=<id>` for one), newest first, at most 200",
    )
    def get(self, request, tenant_slug):
        if not self.allowed:
            return _forbidden()
        rule_id = request.query_params.get("rule", "")
        rule = self._rule(as_id(rule_id)) if is_id(rule_id) else None
        if rule_id and rule is None:
            return _not_found()
        if rule is not None:
            runs = selectors.rule_runs(tenant=self.tenant, rule=rule, limit=200)
        else:
            rules = self._visible(selectors.rules_for(tenant=self.tenant))
            runs = selectors.rule_runs(tenant=self.tenant, rules=rules, limit=200)
        return Response({"results": RunSerializer(runs, many=True).data})


__all__ = ["RuleDetail", "RuleDryRun", "RuleList", "RuleRun", "RuleRuns"]
