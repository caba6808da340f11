"""API: read the latest GSTR-2B preview of a GSTIN and period, rebuild it on demand, get it as official JSON."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from gst.duedates import return_period
from gst.periods import PeriodError, format_period, parse_period
from tenancy.api import TenantAPIMixin

from . import selectors, services
from .models import PreviewTrigger


def _snapshot(snap) -> dict:
    return {
        "id": snap.pk,
        "gstin": snap.registration.gstin,
        "period": format_period(snap.period),
        "built_at": snap.built_at,
        "trigger": snap.trigger,
        "document_count": snap.document_count,
        "itcsumm": snap.summary.get("itcsumm", {}),
        "cpsumm": snap.summary.get("cpsumm", {}),
        "counts": snap.summary.get("counts", {}),
        "diff": snap.diff,
    }


class _Base(TenantAPIMixin, APIView):
    def _resolve(self, registration_id, period):
        reg = selectors.registration_for(
            tenant=self.tenant,
            user=self.request.user,
            registration_id=registration_id,
            membership=self.membership,
        )
        if reg is None:
            return None, None, Response({"code": "not_found", "message": "No such GSTIN."}, status=404)
        try:
            return reg, return_period(parse_period(period), reg.filing_frequency), None
        except PeriodError as exc:
            return (
                None,
                None,
                Response({"code": "invalid", "field": "period", "message": str(exc)}, status=400),
            )


class PreviewDetail(_Base):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT}, summary="Latest GSTR-2B preview of a GSTIN and period"
    )
    def get(self, request, tenant_slug, registration_id, period):
        reg, period, error = self._resolve(registration_id, period)
        if error:
            return error
        snap = selectors.latest_preview(tenant=self.tenant, registration=reg, period=period)
        if snap is None:
            return Response(
                {"code": "not_built", "message": "No preview built yet: POST …/rebuild/."}, status=404
            )
        return Response(_snapshot(snap))


def _rebuild(job) -> dict:
    return {
        "id": job.pk,
        "gstin": job.registration.gstin,
        "period": format_period(job.period),
        "status": job.status,
        "trigger": job.trigger,
        "requested_by": job.actor_label,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error": job.error,
        "preview": job.preview_id,
    }


class PreviewRebuild(_Base):
    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT},
        summary="Queue a rebuild of the GSTR-2B preview (GET …/returns/2b/rebuilds/<id>/ for its status)",
    )
    def post(self, request, tenant_slug, registration_id, period):
        reg, period, error = self._resolve(registration_id, period)
        if error:
            return error
        try:
            job, _created = services.request_rebuild(
                tenant=self.tenant,
                actor=self.actor,
                registration=reg,
                period=period,
                trigger=PreviewTrigger.API,
            )
        except services.ReturnsError as exc:
            return Response({"code": "conflict", "message": str(exc)}, status=409)
        return Response(_rebuild(job), status=202)


class RebuildStatus(_Base):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Status of a queued GSTR-2B preview rebuild")
    def get(self, request, tenant_slug, rebuild_id):
        job = selectors.rebuild_for(
            tenant=self.tenant, user=request.user, rebuild_id=rebuild_id, membership=self.membership
        )
        if job is None:
            return Response({"code": "not_found", "message": "No such rebuild."}, status=404)
        return Response(_rebuild(job))


class PreviewJson(_Base):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT}, summary="The preview in the official GET2B structure"
    )
    def get(self, request, tenant_slug, registration_id, period):
        reg, period, error = self._resolve(registration_id, period)
        if error:
            return error
        return Response(
            {"data": selectors.preview_json(registration=reg, period=period, today=timezone.localdate())}
        )
