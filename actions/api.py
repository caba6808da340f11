"""REST API for IMS actions (under /api/v1/t/<slug>/): one document, or many by ids or filter, with a preview and
an Idempotency-Key. Errors: 400 invalid input ({code, field, message}), 403 role may not act, 404 a document (or
id) you may not see, 422 refused by the IMS rules or an Idempotency-Key reused with another body."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from invoices.selectors import documents_for
from tenancy.api import TenantAPIMixin
from tenancy.roles import Scope

from . import selectors, services
from .errors import ActionError, ActionForbidden, ActionRefused, DocumentsNotFound, IdempotencyConflict
from .models import BulkActionRun
from .requests import require_act

DECL_HELP = (
    "Whether ITC needs to be reduced (Accept of a credit note or downward amendment, docs/rules/ims-actions.md §4.4): "
    "Y with no amounts = full, N = nil. Left out on one document: Y, the portal's default."
)
BULK_DECL_HELP = (
    "The batch's answer to whether ITC needs to be reduced: Y (full; the default) or N, given with the accept of "
    "every specified record of the selection (others take none). With decl_* amounts it is a declaration made on "
    "every document instead."
)
OVERRIDES_HELP = (
    "Accept only: single documents of the selection with their own declaration, {document id: {itc_red_req, "
    "decl_igst, decl_cgst, decl_sgst, decl_cess}}"
)


class ActionFields(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=["A", "R", "P", "N"], help_text="A accept, R reject, P pending, N reset"
    )
    remarks = serializers.CharField(required=False, allow_blank=True, max_length=500)
    itc_red_req = serializers.ChoiceField(choices=["Y", "N"], required=False, help_text=DECL_HELP)
    decl_igst = serializers.DecimalField(
        max_digits=15, decimal_places=2, required=False, coerce_to_string=True
    )
    decl_cgst = serializers.DecimalField(
        max_digits=15, decimal_places=2, required=False, coerce_to_string=True
    )
    decl_sgst = serializers.DecimalField(
        max_digits=15, decimal_places=2, required=False, coerce_to_string=True
    )
    decl_cess = serializers.DecimalField(
        max_digits=15, decimal_places=2, required=False, coerce_to_string=True
    )

    def declaration(self) -> dict:
        return {k: v for k, v in self.validated_data.items() if k.startswith("decl_") or k == "itc_red_req"}


class BulkActionIn(ActionFields):
    itc_red_req = serializers.ChoiceField(choices=["Y", "N"], required=False, help_text=BULK_DECL_HELP)
    overrides = serializers.DictField(
        child=serializers.DictField(), required=False, help_text=OVERRIDES_HELP, allow_empty=True
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        max_length=selectors.MAX_IDS,
        help_text="Document ids; every one must be visible to you, else nothing is done (404)",
    )
    filter = serializers.DictField(
        required=False, help_text="Filter parameters of GET documents/ (all matching)"
    )
    preview = serializers.BooleanField(
        required=False, default=False, help_text="true: return what would happen, change nothing"
    )

    def validate(self, attrs):
        if ("ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError({"ids": "Give either ids or filter."})
        return attrs

    def answer(self) -> dict:
        """The declaration and the batch's answer: ``itc_red_req`` alone answers for the batch's specified records;
        with amounts it is a declaration on every document."""
        declaration = self.declaration()
        if set(declaration) == {"itc_red_req"}:
            return {"declaration": {}, "itc_red_default": declaration["itc_red_req"]}
        return {"declaration": declaration}

    def bulk_kwargs(self) -> dict:
        return {**self.answer(), "overrides": self.validated_data.get("overrides") or None}


ERROR = inline_serializer(
    "ActionErrorOut",
    {"code": serializers.CharField(), "field": serializers.CharField(), "message": serializers.CharField()},
)
RESULT = inline_serializer(
    "BulkActionResult",
    {
        "run_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "total": serializers.IntegerField(),
        "applied": serializers.IntegerField(),
        "already": serializers.IntegerField(),
        "refused_count": serializers.IntegerField(),
        "refused": serializers.ListField(child=serializers.DictField()),
        "warnings": serializers.DictField(),
    },
)
PREVIEW = inline_serializer(
    "BulkActionPreview",
    {
        "action": serializers.CharField(),
        "total": serializers.IntegerField(),
        "outcomes": serializers.DictField(),
        "sections": serializers.DictField(),
        "itc": serializers.DictField(),
        "refusals": serializers.DictField(),
        "warnings": serializers.DictField(),
    },
)
DOC_RESULT = inline_serializer(
    "DocumentActionResult",
    {
        "document_id": serializers.IntegerField(),
        "changed": serializers.BooleanField(),
        "local_action": serializers.CharField(allow_null=True),
        "effective_action": serializers.CharField(),
        "warnings": serializers.ListField(child=serializers.DictField()),
    },
)


def _error(exc: Exception):
    if isinstance(exc, ActionForbidden):
        return Response({"code": "forbidden", "field": None, "message": str(exc)}, status=403)
    if isinstance(exc, DocumentsNotFound):
        return Response(
            {"code": "not_found", "field": "ids", "message": str(exc), "ids": exc.ids}, status=404
        )
    if isinstance(exc, IdempotencyConflict):
        return Response(
            {"code": "idempotency_key_reused", "field": "Idempotency-Key", "message": str(exc)}, status=422
        )
    if isinstance(exc, ActionRefused):
        return Response({"code": exc.code, "field": exc.field, "message": exc.message}, status=422)
    if isinstance(exc, ActionError):
        return Response({"code": exc.code, "field": exc.field, "message": exc.message}, status=400)
    raise exc


class DocumentAction(TenantAPIMixin, APIView):
    token_scopes = {"POST": Scope.ACT}

    @extend_schema(
        request=ActionFields,
        responses={200: DOC_RESULT, 400: ERROR, 403: ERROR, 404: ERROR, 422: ERROR},
        summary="Take an IMS action on one document",
        description="Accept, reject, keep pending or reset (N) one document. Refused by the IMS rules: 422 with "
        "the reason code (e.g. pending_blocked_by_portal, pending_not_allowed, left_ims).",
    )
    def post(self, request, tenant_slug, pk):
        try:
            require_act(self.membership, self.tenant)
        except ActionForbidden as exc:
            return _error(exc)
        doc = (
            documents_for(tenant=self.tenant, user=request.user, membership=self.membership)
            .filter(pk=pk)
            .first()
        )
        if doc is None:
            return Response({"code": "not_found", "field": None, "message": "No such document."}, status=404)
        body = ActionFields(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = services.set_action(
                tenant=self.tenant,
                actor=self.actor,
                membership=self.membership,
                document=doc,
                action=body.validated_data["action"],
                remarks=body.validated_data.get("remarks", ""),
                declaration=body.declaration(),
            )
        except Exception as exc:  # noqa: BLE001 - mapped to a status, others re-raised
            return _error(exc)
        return Response(result.__dict__)


class BulkAction(TenantAPIMixin, APIView):
    token_scopes = {"POST": Scope.ACT}

    @extend_schema(
        request=BulkActionIn,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Repeat a request safely: the same key and body return the first "
                "result; another body under the key is 422",
            )
        ],
        responses={200: RESULT, 202: RESULT, 400: ERROR, 403: ERROR, 404: ERROR, 422: ERROR},
        summary="Take an IMS action on many documents (ids or all matching a filter)",
        description="`preview: true` returns counts by section and outcome and the ITC effect without changing "
        "anything. Otherwise up to 20,000 documents are applied at once (200); more are queued (202, "
        "follow GET actions/runs/{run_id}/). Refused documents are listed and left unchanged.",
    )
    def post(self, request, tenant_slug):
        body = BulkActionIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if data["preview"]:
                preview = selectors.bulk_preview(
                    tenant=self.tenant,
                    user=request.user,
                    membership=self.membership,
                    ids=data.get("ids"),
                    filters=data.get("filter"),
                    action=data["action"],
                    remarks=data.get("remarks", ""),
                    **body.bulk_kwargs(),
                )
                return Response(preview.as_json())
            result = services.bulk_set_action(
                tenant=self.tenant,
                actor=self.actor,
                user=request.user,
                membership=self.membership,
                ids=data.get("ids"),
                filters=data.get("filter"),
                action=data["action"],
                remarks=data.get("remarks", ""),
                **body.bulk_kwargs(),
                idempotency_key=request.headers.get("Idempotency-Key") or None,
            )
        except Exception as exc:  # noqa: BLE001
            return _error(exc)
        return Response(result.as_json(), status=status.HTTP_200_OK if result.status == "done" else 202)


class RunDetail(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(responses={200: RESULT, 404: ERROR}, summary="Progress and result of a bulk action")
    def get(self, request, tenant_slug, pk):

        try:
            run = selectors.run_for(tenant=self.tenant, user=request.user, pk=pk)
        except BulkActionRun.DoesNotExist:
            return Response({"code": "not_found", "field": None, "message": "No such run."}, status=404)
        out = services.BulkResult.of_run(run).as_json()
        out.update(processed=run.processed, percent=run.percent, error=run.error)
        return Response(out)


__all__ = ["BulkAction", "DocumentAction", "RunDetail"]
