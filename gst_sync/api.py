"""REST API v1 for portal sync (under /api/v1/t/<slug>/): queue a sync of a GSTIN, list and read runs."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from gst.sections import Section
from tenancy.api import TenantAPIMixin
from tenancy.roles import Capability, Scope, can
from tenancy.scoping import scopes_disabled
from tenancy.selectors import visible_registrations

from . import push, services
from .models import OutwardDocument, SyncJob, SyncRun
from .outward import outward_for
from .selectors import runs_for


class SyncJobSerializer(serializers.ModelSerializer):
    """The job that syncs a small GSTIN's sections in one task: its state and its current step (a section run of
    a job has no step of its own while the job runs)."""

    class Meta:
        model = SyncJob
        fields = ["id", "status", "attempts", "progress", "started_at", "finished_at"]


class SyncRunSerializer(serializers.ModelSerializer):
    gstin = serializers.CharField(source="registration.gstin", read_only=True)
    job = SyncJobSerializer(read_only=True, allow_null=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "gstin",
            "section",
            "status",
            "trigger",
            "attempts",
            "counts",
            "progress",
            "job",
            "error_code",
            "error_message",
            "created_at",
            "started_at",
            "finished_at",
        ]


class SyncRequestSerializer(serializers.Serializer):
    sections = serializers.ListField(
        child=serializers.ChoiceField(choices=[s.value for s in Section]), required=False, allow_empty=True
    )


class RunCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class _VisibleRuns(TenantAPIMixin):
    serializer_class = SyncRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            with scopes_disabled():
                return SyncRun.objects.none()
        return runs_for(tenant=self.tenant, user=self.request.user, membership=self.membership)


class SyncRunList(_VisibleRuns, generics.ListAPIView):
    """Sync runs of the GSTINs you may see, newest first."""

    token_scopes = {"GET": Scope.READ}

    pagination_class = RunCursorPagination


class SyncRunDetail(_VisibleRuns, generics.RetrieveAPIView):
    """One sync run with its counts and error; a run of a GSTIN you may not see is 404."""

    token_scopes = {"GET": Scope.READ}


class SyncNow(TenantAPIMixin, APIView):
    """Queue a sync of one GSTIN (all sections, or those given). A section already syncing is not queued twice."""

    token_scopes = {"POST": Scope.ACT}

    @extend_schema(request=SyncRequestSerializer, responses={202: SyncRunSerializer(many=True)})
    def post(self, request, tenant_slug, registration_id):
        if not can(self.membership.role, Capability.SYNC):
            raise PermissionDenied("Your role cannot run syncs.")
        regs = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        reg = get_object_or_404(regs, pk=registration_id)
        body = SyncRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            runs = services.queue_sync(
                tenant=self.tenant,
                actor=self.actor,
                registration=reg,
                sections=body.validated_data.get("sections") or None,
                trigger="api",
            )
        except services.SyncError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(SyncRunSerializer(runs, many=True).data, status=status.HTTP_202_ACCEPTED)


class PushNow(TenantAPIMixin, APIView):
    """Push the GSTIN's local actions (not yet on the portal) in batches; returns the batches queued."""

    token_scopes = {"POST": Scope.ACT}

    @extend_schema(request=None, responses={202: dict})
    def post(self, request, tenant_slug, registration_id):

        if not can(self.membership.role, Capability.SYNC):
            raise PermissionDenied("Your role cannot push actions.")
        regs = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        reg = get_object_or_404(regs, pk=registration_id)
        try:
            batches = push.queue_push(tenant=self.tenant, actor=self.actor, registration=reg)
        except push.PushError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(
            {
                "batches": [{"id": b.pk, "kind": b.kind, "documents": b.item_count} for b in batches],
                # Accepts left in the queue for want of the ITC-reduction answer (docs/rules/ims-actions.md §4.9).
                "held": [{"document_id": i, "reason": why} for i, why in batches.held],
            },
            status=status.HTTP_202_ACCEPTED,
        )


class OutwardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    gstin = serializers.CharField(source="registration.gstin")
    recipient_gstin = serializers.CharField()
    section = serializers.CharField()
    doc_number = serializers.CharField()
    doc_date = serializers.DateField()
    doc_value = serializers.DecimalField(max_digits=15, decimal_places=2)
    taxable_value = serializers.DecimalField(max_digits=15, decimal_places=2)
    recipient_action = serializers.CharField()
    remarks = serializers.CharField()
    action_seen_at = serializers.DateTimeField()
    vanished_at = serializers.DateTimeField(allow_null=True)


class OutwardPagination(PageNumberPagination):
    """Ranked (rejected, pending, then the rest): page numbers; these lists are for follow-up, not millions."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class OutwardList(TenantAPIMixin, generics.ListAPIView):
    """The seller's side of IMS: buyers' actions on your outward documents, rejected and pending first."""

    token_scopes = {"GET": Scope.READ}

    serializer_class = OutwardSerializer
    pagination_class = OutwardPagination

    def get_queryset(self):

        if getattr(self, "swagger_fake_view", False):
            with scopes_disabled():
                return OutwardDocument.objects.none()
        regs = visible_registrations(tenant=self.tenant, user=self.request.user, membership=self.membership)
        qs = outward_for(tenant=self.tenant, registrations=regs)
        action = self.request.query_params.get("action")
        if action:
            if action not in ("A", "R", "P", "N"):
                raise ValidationError({"action": "One of A, R, P, N."})
            qs = qs.filter(recipient_action=action)
        return qs
