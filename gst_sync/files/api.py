"""REST API v1 for portal files (under /api/v1/t/<slug>/): multipart import of an IMS JSON or GSTR-2B JSON, and
the pending local actions as the IMS Offline Tool's upload JSON."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api import TenantAPIMixin
from tenancy.roles import Capability, Scope, can
from tenancy.selectors import visible_registrations

from . import imports
from .formats import RESET, SAVE, PortalFileError, dumps


class PortalFileUploadSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["ims", "2b"])
    file = serializers.ListField(
        child=serializers.FileField(),
        allow_empty=False,
        help_text="One file; several for the parts of one GSTR-2B period",
    )
    period = serializers.RegexField(
        r"^(0[1-9]|1[0-2])\d{4}$",
        required=False,
        allow_blank=True,
        help_text="GSTR-2B only: the period (MMYYYY) the file must be for",
    )
    confirm_removals = serializers.BooleanField(
        required=False,
        default=False,
        help_text="IMS JSON: import even though stored documents missing from the file get marked vanished "
        "(without it such an import answers 409 with what it would remove, and writes nothing)",
    )


class PortalFileImport(TenantAPIMixin, APIView):
    """Import a portal file into one GSTIN. 201 with counts and totals; 400 with ``errors`` (file, JSON path,
    record, field) and nothing written for a bad file; 409 with ``removals`` (the count), ``removals_by_section``
    and ``would_remove`` (the first documents) and nothing written when an IMS JSON would mark stored documents
    vanished and ``confirm_removals`` is not true."""

    token_scopes = {"POST": Scope.ACT}

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": PortalFileUploadSerializer},
        responses={201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request, tenant_slug, registration_id):
        if not can(self.membership.role, Capability.SYNC):
            raise PermissionDenied("Your role cannot import portal files.")
        regs = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        reg = get_object_or_404(regs, pk=registration_id)
        data = {
            "type": request.data.get("type"),
            "period": request.data.get("period", ""),
            "file": request.FILES.getlist("file"),
            "confirm_removals": request.data.get("confirm_removals", False),
        }
        body = PortalFileUploadSerializer(data=data)
        body.is_valid(raise_exception=True)
        kwargs = {
            "tenant": self.tenant,
            "actor": self.actor,
            "registration": reg,
            "files": body.validated_data["file"],
        }
        try:
            if body.validated_data["type"] == "2b":
                result = imports.import_gstr2b_files(**kwargs, period=body.validated_data.get("period") or "")
            else:
                result = imports.import_ims_files(
                    **kwargs, confirm_removals=body.validated_data["confirm_removals"]
                )
        except imports.RemovalsNeedConfirmation as exc:
            return Response(exc.as_dict(), status=status.HTTP_409_CONFLICT)
        except PortalFileError as exc:
            return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class OfflineUpload(TenantAPIMixin, APIView):
    """The GSTIN's pending local actions as the IMS Offline Tool upload JSON: ``kind=save`` (Accept / Reject /
    Pending) or ``kind=reset`` (back to No action)."""

    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=[SAVE, RESET], default=SAVE)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, tenant_slug, registration_id):
        kind = request.query_params.get("kind", SAVE)
        if kind not in (SAVE, RESET):
            raise NotFound("kind is save or reset")
        regs = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        reg = get_object_or_404(regs, pk=registration_id)
        try:
            body = imports.offline_upload(tenant=self.tenant, registration=reg, kind=kind)
        except PortalFileError as exc:  # an Accept without the ITC-reduction answer it needs
            return Response({"errors": exc.errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return HttpResponse(dumps(body), content_type="application/json")


# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path(
        "registrations/<int:registration_id>/portal-files/",
        PortalFileImport.as_view(),
        name="api-portal-file-import",
    ),
    path(
        "registrations/<int:registration_id>/offline-upload/",
        OfflineUpload.as_view(),
        name="api-offline-upload",
    ),
]
