"""REST API (under /api/v1/t/<slug>/): purchase-register bulk upsert, runs and their summary."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api import TenantAPIMixin
from tenancy.roles import Scope
from tenancy.scoping import scopes_disabled
from tenancy.selectors import visible_registrations

from . import selectors, services
from .domain.matching import OUTCOME_LABELS
from .models import ReconMatch

UPSERT = inline_serializer(
    "RegisterUpsertIn", {"lines": serializers.ListField(child=serializers.DictField())}
)
UPSERT_OUT = inline_serializer(
    "RegisterUpsertOut",
    {
        "received": serializers.IntegerField(),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)
SUMMARY_OUT = inline_serializer(
    "ReconRunSummary",
    {
        "run": serializers.IntegerField(),
        "status": serializers.CharField(),
        "progress": serializers.IntegerField(),
        "counts": serializers.DictField(),
        "rules_version": serializers.IntegerField(),
        "outcomes": serializers.DictField(),
        "suppliers": serializers.ListField(child=serializers.DictField()),
    },
)


class RegisterUpsert(TenantAPIMixin, APIView):
    token_scopes = {"POST": Scope.REGISTER_WRITE}

    @extend_schema(
        request=UPSERT,
        responses={200: UPSERT_OUT, 207: UPSERT_OUT},
        summary="Create or update up to 10,000 purchase-register lines",
        description="Lines by ERP reference (re-sending one updates it). 200 all written; 207 some "
        "lines refused (errors: index, field, message). Idempotency-Key header replays.",
    )
    def post(self, request, tenant_slug):
        try:
            status, body = services.upsert_lines(
                tenant=self.tenant,
                actor=self.actor,
                user=request.user,
                membership=self.membership,
                lines=request.data.get("lines") if isinstance(request.data, dict) else None,
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        except services.Forbidden as e:
            return Response({"code": "forbidden", "message": str(e)}, status=403)
        except services.ReconError as e:
            return Response(
                {"code": e.code, "field": e.field, "message": e.message},
                status=422 if e.code == "idempotency_key_reused" else 400,
            )
        return Response(body, status=status)


class RunSummary(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        summary="Summary of a reconciliation run by outcome and supplier", responses={200: SUMMARY_OUT}
    )
    def get(self, request, tenant_slug, pk):
        run = (
            selectors.runs_for(tenant=self.tenant, user=request.user, membership=self.membership)
            .filter(pk=pk)
            .first()
        )
        if run is None:
            return Response({"code": "not_found", "message": "No such run."}, status=404)
        regs = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        data = selectors.summary(run=run, registration_ids=list(regs.values_list("pk", flat=True)))
        return Response(
            {
                "run": run.pk,
                "status": run.status,
                "progress": run.progress,
                "counts": run.counts,
                "rules_version": run.rules.version,
                **data,
            }
        )


class MatchSerializer(serializers.ModelSerializer):
    recipient_gstin = serializers.CharField(source="registration.gstin", read_only=True)
    purchase = serializers.SerializerMethodField()
    document = serializers.SerializerMethodField()
    differences = serializers.SerializerMethodField()
    reasons = serializers.SerializerMethodField()

    class Meta:
        model = ReconMatch
        fields = [
            "id",
            "run",
            "outcome",
            "recipient_gstin",
            "supplier_gstin",
            "purchase",
            "document",
            "group_no",
            "similarity",
            "days",
            "differences",
            "pan_fallback",
            "across_fy",
            "duplicate_of",
            "reasons",
        ]

    def get_purchase(self, m) -> dict | None:
        p = m.purchase
        return (
            {"id": p.pk, "erp_ref": p.erp_ref, "doc_number": p.doc_number, "doc_date": p.doc_date}
            if p
            else None
        )

    def get_document(self, m) -> dict | None:
        d = m.document
        return {"id": d.pk, "doc_number": d.doc_number, "doc_date": d.doc_date} if d else None

    def get_differences(self, m) -> dict:
        return {k: str(v) for k, v in m.diffs.items()}

    def get_reasons(self, m) -> list[dict]:
        return selectors.reason_list(m)


class MatchCursorPagination(CursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class MatchList(TenantAPIMixin, generics.ListAPIView):
    """Result rows of a run (``?run=``; default the latest finished run) with reason codes, optionally
    ``?outcome=`` and ``?supplier_gstin=``; follow ``next``."""

    token_scopes = {"GET": Scope.READ}

    serializer_class = MatchSerializer
    pagination_class = MatchCursorPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("run", int, description="Run id (default: the latest finished run)"),
            OpenApiParameter("outcome", str, enum=[o.value for o in OUTCOME_LABELS]),
            OpenApiParameter("supplier_gstin", str),
        ],
        summary="Reconciliation results with reason codes",
    )
    def get(self, request, *args, **kwargs):
        outcome = request.query_params.get("outcome", "")
        if outcome and outcome not in OUTCOME_LABELS:
            return Response(
                {"code": "invalid", "field": "outcome", "message": "No such outcome."}, status=400
            )
        run_id = request.query_params.get("run", "")
        if run_id and not run_id.isdigit():
            return Response({"code": "invalid", "field": "run", "message": "Give a run id."}, status=400)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            with scopes_disabled():
                return ReconMatch.objects.none()
        params = self.request.query_params
        runs = selectors.runs_for(tenant=self.tenant, user=self.request.user, membership=self.membership)
        run = (
            runs.filter(pk=int(params["run"])).first()
            if params.get("run")
            else runs.filter(status="done").first()
        )
        if run is None:
            raise NotFound("No such run.")
        qs = selectors.matches_for(
            tenant=self.tenant, user=self.request.user, membership=self.membership, run=run
        )
        if params.get("outcome"):
            qs = qs.filter(outcome=params["outcome"])
        if params.get("supplier_gstin"):
            qs = qs.filter(supplier_gstin=params["supplier_gstin"].strip().upper())
        return qs
