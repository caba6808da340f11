"""REST API (under /api/v1/t/<slug>/): purchase-register bulk upsert, runs and their summary."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api import TenantAPIMixin
from tenancy.selectors import visible_registrations

from . import selectors, services

UPSERT = inline_serializer("RegisterUpsertIn", {"lines": serializers.ListField(child=serializers.DictField())})
UPSERT_OUT = inline_serializer("RegisterUpsertOut", {
    "received": serializers.IntegerField(), "created": serializers.IntegerField(),
    "updated": serializers.IntegerField(), "unchanged": serializers.IntegerField(),
    "rejected": serializers.IntegerField(), "errors": serializers.ListField(child=serializers.DictField()),
})
SUMMARY_OUT = inline_serializer("ReconRunSummary", {
    "run": serializers.IntegerField(), "status": serializers.CharField(), "progress": serializers.IntegerField(),
    "counts": serializers.DictField(), "rules_version": serializers.IntegerField(),
    "outcomes": serializers.DictField(), "suppliers": serializers.ListField(child=serializers.DictField()),
})


class RegisterUpsert(TenantAPIMixin, APIView):
    @extend_schema(request=UPSERT, responses={200: UPSERT_OUT, 207: UPSERT_OUT}, summary="Create or update up to 10,000 purchase-register lines",
                   description="Lines by ERP reference (re-sending one updates it). 200 all written; 207 some "
                               "lines refused (errors: index, field, message). Idempotency-Key header replays.")
    def post(self, request, tenant_slug):
        try:
            status, body = services.upsert_lines(
                tenant=self.tenant, actor=self.actor, user=request.user, membership=self.membership,
                lines=request.data.get("lines") if isinstance(request.data, dict) else None,
                idempotency_key=request.headers.get("Idempotency-Key"))
        except services.Forbidden as e:
            return Response({"code": "forbidden", "message": str(e)}, status=403)
        except services.ReconError as e:
            return Response({"code": e.code, "field": e.field, "message": e.message},
                            status=422 if e.code == "idempotency_key_reused" else 400)
        return Response(body, status=status)


class RunSummary(TenantAPIMixin, APIView):
    @extend_schema(summary="Summary of a reconciliation run by outcome and supplier", responses={200: SUMMARY_OUT})
    def get(self, request, tenant_slug, pk):
        run = selectors.runs_for(tenant=self.tenant, user=request.user, membership=self.membership).filter(
            pk=pk).first()
        if run is None:
            return Response({"code": "not_found", "message": "No such run."}, status=404)
        regs = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        data = selectors.summary(run=run, registration_ids=list(regs.values_list("pk", flat=True)))
        return Response({"run": run.pk, "status": run.status, "progress": run.progress, "counts": run.counts,
                         "rules_version": run.rules.version, **data})
