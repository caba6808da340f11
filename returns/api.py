"""API: read the latest GSTR-2B preview of a GSTIN and period, rebuild it on demand, get it as official JSON."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from gst.duedates import return_period
from gst.periods import PeriodError, format_period, format_portal_date, parse_period
from tenancy.api import TenantAPIMixin
from tenancy.roles import Capability, Scope, can

from . import selectors, services
from .forms import DATE_INPUT_FORMATS
from .models import PreviewTrigger
from .twob import HEADS


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
        "reclaim": snap.summary.get("reclaim", {}),  # Rule 37A re-availments (GSTR-3B 4(D)(1))
        "diff": snap.diff,
        "table4": [
            {"code": r.code, "label": r.label.strip(), **{h: str(v) for h, v in r.amounts.items()}}
            for r in selectors.table4(preview=snap)
        ],
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
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as_of",
                OpenApiTypes.DATE,
                description="The preview as it stood at the end of this day (YYYY-MM-DD), computed from the "
                "history kept (actions, document versions, GSTR-3B filings); not stored (id null).",
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Latest GSTR-2B preview of a GSTIN and period, or the preview as of a date",
    )
    def get(self, request, tenant_slug, registration_id, period):
        reg, period, error = self._resolve(registration_id, period)
        if error:
            return error
        if request.query_params.get("as_of"):
            try:
                as_of = parse_date(request.query_params["as_of"])
                if as_of is None:
                    raise ValueError
            except ValueError:
                return Response(
                    {"code": "invalid", "field": "as_of", "message": "as_of must be a date YYYY-MM-DD."},
                    status=400,
                )
            try:
                snap = services.preview_as_of(registration=reg, period=period, as_of=as_of)
            except services.ReturnsError as exc:
                return Response({"code": "invalid", "field": "as_of", "message": str(exc)}, status=400)
            return Response({**_snapshot(snap), "as_of": as_of})
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
    token_scopes = {"POST": Scope.ACT}

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
    token_scopes = {"GET": Scope.READ}

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Status of a queued GSTR-2B preview rebuild")
    def get(self, request, tenant_slug, rebuild_id):
        job = selectors.rebuild_for(
            tenant=self.tenant, user=request.user, rebuild_id=rebuild_id, membership=self.membership
        )
        if job is None:
            return Response({"code": "not_found", "message": "No such rebuild."}, status=404)
        return Response(_rebuild(job))


class PreviewJson(_Base):
    token_scopes = {"GET": Scope.READ}

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


# --- GSTR-3B filings (docs/rules/gstr3b.md §4) ----------------------------------------------------------------


def _filing(f) -> dict:
    return {
        "id": f.pk,
        "registration": f.registration_id,
        "gstin": f.registration.gstin,
        "period": format_period(f.period),
        "filed_on": format_portal_date(f.filed_on),
        "arn": f.arn,
        "source": f.source,
        "updated_at": f.updated_at,
    }


class PeriodText(serializers.CharField):
    def to_internal_value(self, data):
        try:
            return parse_period(super().to_internal_value(data))
        except PeriodError as exc:
            raise serializers.ValidationError(str(exc)) from None


class FilingIn(serializers.Serializer):
    registration = serializers.IntegerField()
    period = PeriodText(help_text="MMYYYY (QRMP: the quarter's last month)")
    filed_on = serializers.DateField(input_formats=DATE_INPUT_FORMATS, help_text="DD-MM-YYYY")
    arn = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class FilingCorrectionIn(serializers.Serializer):
    filed_on = serializers.DateField(input_formats=DATE_INPUT_FORMATS, help_text="DD-MM-YYYY")
    arn = serializers.CharField(max_length=40, required=False, allow_blank=True)


def _invalid(errors) -> Response:
    field, messages = next(iter(errors.items()))
    return Response({"code": "invalid", "field": field, "message": " ".join(map(str, messages))}, status=400)


class _Writer(_Base):
    def _require_sync(self) -> None:
        if not can(self.membership.role, Capability.SYNC):
            raise PermissionDenied("Your role may not record returns data.")

    def _registration(self, registration_id):
        return selectors.registration_for(
            tenant=self.tenant,
            user=self.request.user,
            registration_id=registration_id,
            membership=self.membership,
        )

    def _body(self, serializer_class):
        """For a write: the validated body and the GSTIN it names (one the user sees), or the answer to give
        instead (403 raised for a role that may not write, 400 for a bad body, 404 for an unknown GSTIN)."""
        self._require_sync()
        body = serializer_class(data=self.request.data)
        if not body.is_valid():
            return None, None, _invalid(body.errors)
        data = body.validated_data
        reg = self._registration(data["registration"])
        if reg is None:
            return None, None, Response({"code": "not_found", "message": "No such GSTIN."}, status=404)
        return data, reg, None


class FilingList(_Writer):
    token_scopes = {"GET": Scope.READ, "POST": Scope.ACT}

    @extend_schema(
        operation_id="v1_t_returns_filings_list",
        responses={200: OpenApiTypes.OBJECT},
        summary="Recorded GSTR-3B filings of the GSTINs you see",
    )
    def get(self, request, tenant_slug):
        rows = selectors.filings_for(tenant=self.tenant, user=request.user, membership=self.membership)
        return Response({"results": [_filing(f) for f in rows]})

    @extend_schema(
        request=FilingIn, responses={201: OpenApiTypes.OBJECT}, summary="Record a GSTR-3B filing by hand"
    )
    def post(self, request, tenant_slug):
        data, reg, refused = self._body(FilingIn)
        if refused is not None:
            return refused
        try:
            filing = services.mark_gstr3b_filed(
                tenant=self.tenant,
                actor=self.actor,
                registration=reg,
                period=data["period"],
                filed_on=data["filed_on"],
                arn=data["arn"],
            )
        except services.ReturnsError as exc:
            return Response({"code": "invalid", "field": "filed_on", "message": str(exc)}, status=400)
        return Response(_filing(filing), status=201)


class FilingDetail(_Writer):
    token_scopes = {"GET": Scope.READ, "PATCH": Scope.ACT, "DELETE": Scope.ACT}

    def _get(self, pk):
        return selectors.filing_for(
            tenant=self.tenant, user=self.request.user, pk=pk, membership=self.membership
        )

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="One recorded GSTR-3B filing")
    def get(self, request, tenant_slug, pk):
        filing = self._get(pk)
        if filing is None:
            return Response({"code": "not_found", "message": "No such filing."}, status=404)
        return Response(_filing(filing))

    @extend_schema(
        request=FilingCorrectionIn, responses={200: OpenApiTypes.OBJECT}, summary="Correct a GSTR-3B filing"
    )
    def patch(self, request, tenant_slug, pk):
        filing = self._get(pk)
        if filing is None:
            return Response({"code": "not_found", "message": "No such filing."}, status=404)
        self._require_sync()
        body = FilingCorrectionIn(data=request.data)
        if not body.is_valid():
            return _invalid(body.errors)
        try:
            filing = services.correct_gstr3b_filing(
                tenant=self.tenant,
                actor=self.actor,
                filing=filing,
                filed_on=body.validated_data["filed_on"],
                arn=body.validated_data.get("arn"),
            )
        except services.ReturnsError as exc:
            return Response({"code": "invalid", "field": "filed_on", "message": str(exc)}, status=400)
        return Response(_filing(filing))

    @extend_schema(responses={204: None}, summary="Delete a GSTR-3B filing recorded by mistake")
    def delete(self, request, tenant_slug, pk):
        filing = self._get(pk)
        if filing is None:
            return Response({"code": "not_found", "message": "No such filing."}, status=404)
        self._require_sync()
        services.delete_gstr3b_filing(tenant=self.tenant, actor=self.actor, filing=filing)
        return Response(status=204)


# --- the credit-reversal statement balance (docs/rules/gstr3b.md §2.3) ------------------------------------------


def _balance(b) -> dict:
    return {
        "id": b.pk,
        "registration": b.registration_id,
        "gstin": b.registration.gstin,
        "period": format_period(b.period),
        **{h: str(getattr(b, h)) for h in HEADS},
        "updated_at": b.updated_at,
    }


class BalanceIn(serializers.Serializer):
    registration = serializers.IntegerField()
    period = PeriodText(help_text="MMYYYY: the GSTR-3B the balance is available to")
    igst = serializers.DecimalField(max_digits=15, decimal_places=2, min_value=0)
    cgst = serializers.DecimalField(max_digits=15, decimal_places=2, min_value=0)
    sgst = serializers.DecimalField(max_digits=15, decimal_places=2, min_value=0)
    cess = serializers.DecimalField(max_digits=15, decimal_places=2, min_value=0)


class BalanceList(_Writer):
    token_scopes = {"GET": Scope.READ, "POST": Scope.ACT}

    @extend_schema(
        operation_id="v1_t_returns_credit_reversal_list",
        responses={200: OpenApiTypes.OBJECT},
        summary="Recorded credit-reversal statement balances",
    )
    def get(self, request, tenant_slug):
        rows = selectors.balances_for(tenant=self.tenant, user=request.user, membership=self.membership)
        return Response({"results": [_balance(b) for b in rows]})

    @extend_schema(
        request=BalanceIn,
        responses={201: OpenApiTypes.OBJECT},
        summary="Record (or correct) the credit-reversal statement balance of a GSTIN and period",
    )
    def post(self, request, tenant_slug):
        data, reg, refused = self._body(BalanceIn)
        if refused is not None:
            return refused
        try:
            row = services.set_credit_reversal_balance(
                tenant=self.tenant,
                actor=self.actor,
                registration=reg,
                period=data["period"],
                amounts={h: data[h] for h in HEADS},
            )
        except services.ReturnsError as exc:
            return Response({"code": "invalid", "field": None, "message": str(exc)}, status=400)
        return Response(_balance(row), status=201)


class BalanceDetail(_Writer):
    token_scopes = {"DELETE": Scope.ACT}

    @extend_schema(responses={204: None}, summary="Delete a recorded balance")
    def delete(self, request, tenant_slug, pk):
        row = selectors.balance_for(tenant=self.tenant, user=request.user, pk=pk, membership=self.membership)
        if row is None:
            return Response({"code": "not_found", "message": "No such balance."}, status=404)
        self._require_sync()
        services.delete_credit_reversal_balance(tenant=self.tenant, actor=self.actor, balance=row)
        return Response(status=204)


def _date(value) -> str | None:
    return format_portal_date(value) if value is not None else None


def _period_text(value) -> str | None:
    return format_period(value) if value is not None else None


def _rule37a_item(item: dict) -> dict:
    doc = item["doc"]
    return {
        "id": item["id"],
        "state": item["state"],
        "section": doc.section,
        "doc_number": doc.doc_number,
        "doc_date": format_portal_date(doc.doc_date),
        "supplier_gstin": item["supplier_gstin"],
        "supplier_name": item["supplier_name"],
        "supplier_period": format_period(item["supplier_period"]),
        "supplier_deadline": format_portal_date(item["supplier_deadline"]),
        "supplier_filed_on": _date(item["supplier_filed_on"]),
        "reverse_by": format_portal_date(item["reverse_by"]),
        "reversal_period": _period_text(item["reversal_period"]),
        "reavail_period": _period_text(item["reavail_period"]),
        **{h: str(item["amounts"][h]) for h in HEADS},
    }


class Rule37aWatch(_Base):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        summary="Rule 37A watch of a GSTIN: invoices at risk, to reverse (by when) and re-availed",
    )
    def get(self, request, tenant_slug, registration_id):
        reg = selectors.registration_for(
            tenant=self.tenant, user=request.user, registration_id=registration_id, membership=self.membership
        )
        if reg is None:
            return Response({"code": "not_found", "message": "No such GSTIN."}, status=404)
        watch = selectors.rule37a_watch(tenant=self.tenant, registration=reg, today=timezone.localdate())
        return Response(
            {
                "gstin": reg.gstin,
                "results": [_rule37a_item(i) for i in watch["items"]],
                "totals": {
                    state: {h: str(v) for h, v in heads.items()} for state, heads in watch["totals"].items()
                },
            }
        )
