"""REST API of approvals (under /api/v1/t/<slug>/approvals/): policies, batches, approve / return / withdraw, and
the impact preview of a bulk action. Errors: 400 invalid input or state ({code, field, message}), 403 role (or the
proposer approving), 404 a batch or policy you may not see."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from actions.api import BulkActionIn
from actions.api import _error as action_error
from gst.gstin import validate_gstin
from gst.sections import SECTION_CHOICES
from ims_project.params import as_id
from invoices.models import FilingStatus
from tenancy.api import TenantAPIMixin
from tenancy.roles import Scope

from . import selectors, services
from .errors import ApprovalError, ApprovalForbidden
from .models import ApprovalPolicy, ApprovalRequest, RequestStatus


class PolicySerializer(serializers.ModelSerializer):
    sections = serializers.ListField(child=serializers.ChoiceField(choices=SECTION_CHOICES), required=False)
    supplier_filing_status = serializers.ChoiceField(
        choices=[("", "Any"), *FilingStatus.choices], required=False, allow_blank=True
    )
    supplier_gstins = serializers.ListField(child=serializers.CharField(max_length=20), required=False)
    min_value = serializers.DecimalField(
        max_digits=15, decimal_places=2, min_value=0, required=False, allow_null=True, coerce_to_string=True
    )

    class Meta:
        model = ApprovalPolicy
        fields = [
            "id",
            "name",
            "action",
            "min_value",
            "sections",
            "supplier_filing_status",
            "supplier_gstins",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_supplier_gstins(self, values):
        out = []
        for v in values:
            check = validate_gstin(v)
            if not check.valid:
                raise serializers.ValidationError(f"{v}: {check.message}")
            out.append(check.gstin)
        return sorted(set(out))


class RequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "status",
            "action",
            "params",
            "run_id",
            "proposed_by_id",
            "proposed_by_label",
            "registration_ids",
            "policy_names",
            "item_count",
            "created_at",
            "decided_by_label",
            "decided_at",
            "comment",
        ]


class CommentIn(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


ERROR = inline_serializer(
    "ApprovalErrorOut",
    {"code": serializers.CharField(), "field": serializers.CharField(), "message": serializers.CharField()},
)


def _error(exc: Exception) -> Response:
    if isinstance(exc, ApprovalForbidden):
        return Response({"code": "forbidden", "field": None, "message": str(exc)}, status=403)
    if isinstance(exc, ApprovalError):
        return Response({"code": exc.code, "field": exc.field, "message": exc.message}, status=400)
    raise exc


def _not_found(what: str) -> Response:
    return Response({"code": "not_found", "field": None, "message": f"No such {what}."}, status=404)


class PolicyList(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ, "POST": Scope.APPROVE}

    @extend_schema(responses={200: PolicySerializer(many=True)}, summary="Approval policies")
    def get(self, request, tenant_slug):
        return Response(PolicySerializer(selectors.policies_for(tenant=self.tenant), many=True).data)

    @extend_schema(
        request=PolicySerializer,
        responses={201: PolicySerializer, 400: ERROR, 403: ERROR},
        summary="Add an approval policy (owners and admins)",
    )
    def post(self, request, tenant_slug):
        body = PolicySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = {k: v for k, v in body.validated_data.items() if k in services.POLICY_FIELDS}
        try:
            policy = services.save_policy(
                tenant=self.tenant, actor=self.actor, membership=self.membership, **values
            )
        except Exception as exc:  # noqa: BLE001 - mapped to a status, others re-raised
            return _error(exc)
        return Response(PolicySerializer(policy).data, status=201)


class PolicyDetail(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ, "PATCH": Scope.APPROVE, "DELETE": Scope.APPROVE}

    def _get(self, pk):
        return selectors.policies_for(tenant=self.tenant).filter(pk=pk).first()

    @extend_schema(responses={200: PolicySerializer, 404: ERROR}, summary="One approval policy")
    def get(self, request, tenant_slug, pk):
        policy = self._get(pk)
        return Response(PolicySerializer(policy).data) if policy else _not_found("policy")

    @extend_schema(
        request=PolicySerializer,
        responses={200: PolicySerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Change an approval policy (owners and admins)",
    )
    def patch(self, request, tenant_slug, pk):
        policy = self._get(pk)
        if policy is None:
            return _not_found("policy")
        body = PolicySerializer(policy, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = {k: v for k, v in body.validated_data.items() if k in services.POLICY_FIELDS}
        try:
            policy = services.save_policy(
                tenant=self.tenant, actor=self.actor, membership=self.membership, policy=policy, **values
            )
        except Exception as exc:  # noqa: BLE001
            return _error(exc)
        return Response(PolicySerializer(policy).data)

    @extend_schema(responses={204: None, 403: ERROR, 404: ERROR}, summary="Remove an approval policy")
    def delete(self, request, tenant_slug, pk):
        policy = self._get(pk)
        if policy is None:
            return _not_found("policy")
        try:
            services.delete_policy(
                tenant=self.tenant, actor=self.actor, membership=self.membership, policy=policy
            )
        except Exception as exc:  # noqa: BLE001
            return _error(exc)
        return Response(status=204)


class RequestList(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={200: RequestSerializer(many=True)},
        summary="Batches awaiting approval or decided",
        description="`?status=pending|approved|returned|withdrawn` (default: all); at most 500, newest "
        "first; `?run=<bulk run id>` finds the batch a bulk action proposed.",
    )
    def get(self, request, tenant_slug):
        status = request.query_params.get("status")
        qs = selectors.requests_for(
            tenant=self.tenant,
            user=request.user,
            membership=self.membership,
            status=status if status in RequestStatus.values else None,
        )
        run = request.query_params.get("run")
        if as_id(run) is not None:
            qs = qs.filter(run_id=as_id(run))
        return Response(RequestSerializer(qs[:500], many=True).data)


class RequestDetail(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={200: RequestSerializer, 404: ERROR},
        summary="One batch, its documents by state and (pending) the impact of approving it",
    )
    def get(self, request, tenant_slug, pk):
        try:
            approval = selectors.request_for(
                tenant=self.tenant, user=request.user, membership=self.membership, pk=pk
            )
        except ApprovalRequest.DoesNotExist:
            return _not_found("batch")
        out = RequestSerializer(approval).data
        out["items"] = selectors.item_counts(tenant=self.tenant, approval=approval)
        out["documents"] = [
            {
                "document_id": i.document_id,
                "action": i.action,
                "state": i.state,
                "previous_action": i.prev_action,
                "policy": i.policy_name,
            }
            for i in selectors.items_for(tenant=self.tenant, approval=approval, limit=1000)
        ]
        if approval.is_pending:
            out["impact"] = selectors.request_impact(tenant=self.tenant, approval=approval).as_json()
            deciders = services.approvers_for(tenant=self.tenant, approval=approval)
            out["approvers"] = [u.get_username() for u in deciders]
            out["no_approver"] = (
                "" if deciders else services.no_approver_help(tenant=self.tenant, approval=approval)
            )
        return Response(out)


class RequestDecision(TenantAPIMixin, APIView):
    decision = "approve"

    @property
    def token_scopes(self) -> dict:
        # approving and returning need "approve"; withdrawing is the proposer's own act
        return {"POST": Scope.ACT if self.decision == "withdraw" else Scope.APPROVE}

    @extend_schema(
        request=CommentIn,
        responses={200: RequestSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Approve, return (comment required) or withdraw (the proposer) a batch",
    )
    def post(self, request, tenant_slug, pk):
        try:
            approval = selectors.request_for(
                tenant=self.tenant, user=request.user, membership=self.membership, pk=pk
            )
        except ApprovalRequest.DoesNotExist:
            return _not_found("batch")
        body = CommentIn(data=request.data)
        body.is_valid(raise_exception=True)
        kwargs = {
            "tenant": self.tenant,
            "actor": self.actor,
            "user": request.user,
            "membership": self.membership,
            "approval": approval,
        }
        comment = body.validated_data.get("comment", "")
        try:
            if self.decision == "approve":
                approval = services.approve(**kwargs, comment=comment)
            elif self.decision == "return":
                approval = services.return_request(**kwargs, comment=comment)
            else:
                approval = services.withdraw(**kwargs)
        except Exception as exc:  # noqa: BLE001
            return _error(exc)
        return Response(RequestSerializer(approval).data)


class BulkImpact(TenantAPIMixin, APIView):
    token_scopes = {"POST": Scope.READ}  # a preview: changes nothing

    @extend_schema(
        request=BulkActionIn,
        responses={
            200: inline_serializer(
                "BulkImpactOut",
                {
                    "documents": serializers.IntegerField(),
                    "periods": serializers.ListField(child=serializers.DictField()),
                    "suppliers": serializers.ListField(child=serializers.DictField()),
                    "warnings": serializers.ListField(child=serializers.DictField()),
                    "needs_approval": serializers.DictField(),
                    "needs_approval_total": serializers.IntegerField(),
                },
            ),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        summary="Impact preview of a bulk action: draft GSTR-2B change by period and head, supplier add-backs, "
        "warnings, and how many documents approval policies would hold",
    )
    def post(self, request, tenant_slug):
        body = BulkActionIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            result = selectors.bulk_impact(
                tenant=self.tenant,
                user=request.user,
                membership=self.membership,
                ids=data.get("ids"),
                filters=data.get("filter"),
                action=data["action"],
                remarks=data.get("remarks", ""),
                **body.bulk_kwargs(),
            )
        except Exception as exc:  # noqa: BLE001
            return action_error(exc)
        return Response(result.as_json())


__all__ = [
    "BulkImpact",
    "PolicyDetail",
    "PolicyList",
    "RequestDecision",
    "RequestDetail",
    "RequestList",
]
