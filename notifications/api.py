from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api import TenantAPIMixin
from tenancy.roles import Scope

from . import selectors, services


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    text = serializers.CharField()
    url = serializers.CharField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class ReadIn(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=1000,
        help_text="Notifications to mark read; none given: all of yours",
    )


class NotificationList(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={
            200: inline_serializer(
                "NotificationsOut",
                {"unread": serializers.IntegerField(), "results": NotificationSerializer(many=True)},
            )
        },
        summary="Your in-app notifications (approvals waiting, batches decided, pushes failed), newest first",
        description="`?unread=1` for the unread ones only; at most 200.",
    )
    def get(self, request, tenant_slug):
        qs = selectors.notifications_for(tenant=self.tenant, user=request.user)
        if request.query_params.get("unread") in ("1", "true", "yes"):
            qs = qs.filter(read_at__isnull=True)
        return Response(
            {
                "unread": selectors.unread_count(tenant=self.tenant, user=request.user),
                "results": NotificationSerializer(qs[:200], many=True).data,
            }
        )


class NotificationRead(TenantAPIMixin, APIView):
    token_scopes = {"POST": Scope.READ}  # marks the reader's own notifications read

    @extend_schema(
        request=ReadIn,
        responses={200: inline_serializer("NotificationsReadOut", {"marked": serializers.IntegerField()})},
        summary="Mark your notifications read",
    )
    def post(self, request, tenant_slug):
        body = ReadIn(data=request.data)
        body.is_valid(raise_exception=True)
        marked = services.mark_read(tenant=self.tenant, user=request.user, ids=body.validated_data.get("ids"))
        return Response({"marked": marked})


# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path("notifications/", NotificationList.as_view(), name="api-notifications"),
    path("notifications/read/", NotificationRead.as_view(), name="api-notifications-read"),
]
