"""REST API v1 for client batches (under /api/v1/t/<slug>/batches/): start one, read its progress per GSTIN."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api import TenantAPIMixin
from tenancy.roles import Capability, Scope, can
from tenancy.selectors import visible_registrations

from . import batches
from .models import ClientBatch, ClientBatchItem


class BatchItemSerializer(serializers.ModelSerializer):
    gstin = serializers.CharField(source="registration.gstin", read_only=True)

    class Meta:
        model = ClientBatchItem
        fields = [
            "gstin",
            "stage",
            "documents",
            "recommended",
            "error",
            "sync_run_ids",
            "recon_run_id",
            "updated_at",
        ]


class BatchRequestSerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


def _body(batch: ClientBatch, items=None) -> dict:
    out = {
        "id": batch.pk,
        "status": batch.status,
        "date_from": batch.date_from,
        "date_to": batch.date_to,
        "created_at": batch.created_at,
        "finished_at": batch.finished_at,
        "progress": batches.progress(batch),
    }
    if items is not None:
        out["items"] = BatchItemSerializer(items, many=True).data
    return out


class BatchList(TenantAPIMixin, APIView):
    """The latest client batches with their progress (GET); start one over every connected GSTIN (POST)."""

    token_scopes = {"GET": Scope.READ, "POST": Scope.ACT}

    @extend_schema(operation_id="v1_t_batches_list", responses={200: dict})
    def get(self, request, tenant_slug):
        return Response([_body(b) for b in ClientBatch.objects.filter(tenant=self.tenant)[:20]])

    @extend_schema(request=BatchRequestSerializer, responses={202: dict})
    def post(self, request, tenant_slug):
        if not can(self.membership.role, Capability.SYNC):
            raise PermissionDenied("Your role cannot run syncs.")
        body = BatchRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            batch = batches.start_batch(
                tenant=self.tenant,
                actor=self.actor,
                user=request.user,
                membership=self.membership,
                **body.validated_data,
            )
        except batches.BatchError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(_body(batch), status=status.HTTP_202_ACCEPTED)


class BatchDetail(TenantAPIMixin, APIView):
    """One batch: its progress and each GSTIN you may see with its stage, documents and recommended actions."""

    token_scopes = {"GET": Scope.READ}

    @extend_schema(responses={200: dict})
    def get(self, request, tenant_slug, pk):
        batch = get_object_or_404(ClientBatch.objects.filter(tenant=self.tenant), pk=pk)
        visible = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        items = (
            ClientBatchItem.objects.filter(batch=batch, registration__in=visible)
            .select_related("registration")
            .order_by("registration__gstin")
        )
        return Response(_body(batch, items))
