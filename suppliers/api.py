"""REST API of the supplier directory, the e-mails sent to suppliers and the tenant's webhooks (under
/api/v1/t/<slug>/). Same roles as the pages: everyone sees the directory (their GSTINs' suppliers), members who
may act edit contacts, owners and admins import, see notifications and manage webhooks. A webhook's signing secret
is in the answer to its creation and to a rotation only. Errors: 400 ``{code, field, message}``, 403 role, 404 an
object of another tenant."""

from __future__ import annotations

from django.core.paginator import Paginator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from invoices.models import Supplier
from tenancy.api import TenantAPIMixin
from tenancy.roles import Capability, Scope, can

from . import selectors, services
from .forms import ImportForm
from .models import SupplierNotification, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .sheet import SheetError

PER_PAGE = 100
ERROR = inline_serializer(
    "SupplierErrorOut",
    {"code": serializers.CharField(), "field": serializers.CharField(), "message": serializers.CharField()},
)


class SupplierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Supplier
        fields = ["id", "gstin", "legal_name", "trade_name", "emails", "gstin_valid", "updated_at"]
        read_only_fields = ["id", "gstin", "gstin_valid", "updated_at"]


class SupplierIn(serializers.Serializer):
    legal_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    trade_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    emails = serializers.ListField(child=serializers.CharField(max_length=254), required=False, max_length=50)


class SupplierNotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = SupplierNotification
        fields = [
            "id",
            "supplier_gstin",
            "emails",
            "document_ids",
            "document_count",
            "status",
            "error",
            "created_at",
        ]


class WebhookSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "active", "secret_hint", "secret_rotated_at", "created_at"]


class WebhookIn(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), required=False
    )
    active = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "status",
            "attempts",
            "response_code",
            "last_error",
            "created_at",
            "last_attempt_at",
            "delivered_at",
        ]


WITH_SECRET = inline_serializer(
    "WebhookWithSecretOut",
    {
        "webhook": WebhookSerializer(),
        "secret": serializers.CharField(help_text="Shown this once: store it now"),
    },
)


def _forbidden(message: str) -> Response:
    return Response({"code": "forbidden", "field": None, "message": message}, status=403)


def _not_found(what: str) -> Response:
    return Response({"code": "not_found", "field": None, "message": f"No such {what}."}, status=404)


def _invalid(err: services.SupplierError) -> Response:
    return Response({"code": "invalid", "field": err.field, "message": err.message}, status=400)


class _API(TenantAPIMixin, APIView):
    capability = Capability.MANAGE_REGISTRATIONS
    refusal = "Only owners and admins may do this."

    def allowed(self, capability: Capability | None = None) -> bool:
        return can(self.membership.role, capability or self.capability)


class SupplierList(_API):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={
            200: inline_serializer(
                "SuppliersOut",
                {
                    "count": serializers.IntegerField(),
                    "page": serializers.IntegerField(),
                    "pages": serializers.IntegerField(),
                    "results": SupplierSerializer(many=True),
                },
            )
        },
        summary="The supplier directory (suppliers of your GSTINs)",
        operation_id="suppliers_list",
        description="`?q=` a GSTIN prefix, a name or an e-mail; `?page=` (100 a page).",
    )
    def get(self, request, tenant_slug):
        qs = selectors.supplier_directory(
            tenant=self.tenant,
            user=request.user,
            membership=self.membership,
            query=request.query_params.get("q", "")[:100],
        )
        page = Paginator(qs, PER_PAGE).get_page(request.query_params.get("page"))
        return Response(
            {
                "count": page.paginator.count,
                "page": page.number,
                "pages": page.paginator.num_pages,
                "results": SupplierSerializer(page.object_list, many=True).data,
            }
        )


class SupplierDetail(_API):
    token_scopes = {"GET": Scope.READ, "PATCH": Scope.REGISTER_WRITE}

    def _get(self, request, pk):
        try:
            return selectors.supplier_detail(
                tenant=self.tenant, user=request.user, membership=self.membership, pk=pk
            )
        except Supplier.DoesNotExist:
            return None

    @extend_schema(responses={200: SupplierSerializer, 404: ERROR}, summary="One supplier")
    def get(self, request, tenant_slug, pk):
        supplier = self._get(request, pk)
        return Response(SupplierSerializer(supplier).data) if supplier else _not_found("supplier")

    @extend_schema(
        request=SupplierIn,
        responses={200: SupplierSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Change a supplier's names or contact e-mails (members who may act)",
    )
    def patch(self, request, tenant_slug, pk):
        if not self.allowed(Capability.ACT):
            return _forbidden("Your role may not edit suppliers.")
        supplier = self._get(request, pk)
        if supplier is None:
            return _not_found("supplier")
        body = SupplierIn(data=request.data)
        body.is_valid(raise_exception=True)
        values = {
            "legal_name": supplier.legal_name,
            "trade_name": supplier.trade_name,
            "emails": supplier.emails,
            **body.validated_data,
        }
        try:
            supplier = services.update_supplier(
                tenant=self.tenant, actor=self.actor, supplier=supplier, **values
            )
        except services.SupplierError as err:
            return _invalid(err)
        return Response(SupplierSerializer(supplier).data)


class SupplierImport(_API):
    token_scopes = {"POST": Scope.REGISTER_WRITE}
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer("SupplierImportIn", {"file": serializers.FileField()})
        },
        responses={
            200: inline_serializer(
                "SupplierImportOut",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                    "errors": serializers.ListField(child=serializers.DictField()),
                },
            ),
            400: ERROR,
            403: ERROR,
        },
        summary="Import suppliers from Excel (GSTIN, Legal name, Trade name, Emails)",
    )
    def post(self, request, tenant_slug):
        if not self.allowed():
            return _forbidden(self.refusal)
        form = ImportForm(files=request.FILES)
        if not form.is_valid():
            return Response(
                {"code": "invalid", "field": "file", "message": " ".join(form.errors.get("file", []))},
                status=400,
            )
        upload = form.cleaned_data["file"]
        try:
            result = services.import_suppliers(
                tenant=self.tenant, actor=self.actor, data=upload.read(), filename=upload.name
            )
        except SheetError as err:
            return Response({"code": "invalid", "field": "file", "message": str(err)}, status=400)
        return Response(
            {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "errors": [{"row": row, "message": msg} for row, msg in result.errors],
            }
        )


class NotificationList(_API):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        responses={200: SupplierNotificationSerializer(many=True), 403: ERROR},
        summary="E-mails sent to suppliers (newest first, at most 500)",
    )
    def get(self, request, tenant_slug):
        if not self.allowed():
            return _forbidden(self.refusal)
        return Response(
            {
                "results": SupplierNotificationSerializer(
                    selectors.notifications(tenant=self.tenant)[:500], many=True
                ).data
            }
        )


class WebhookList(_API):
    token_scopes = {"GET": Scope.READ, "POST": Scope.ACT}

    @extend_schema(responses={200: WebhookSerializer(many=True), 403: ERROR}, summary="Webhook endpoints")
    def get(self, request, tenant_slug):
        if not self.allowed():
            return _forbidden(self.refusal)
        return Response(
            {"results": WebhookSerializer(selectors.webhook_endpoints(tenant=self.tenant), many=True).data}
        )

    @extend_schema(
        request=WebhookIn,
        responses={201: WITH_SECRET, 400: ERROR, 403: ERROR},
        summary="Add a webhook: the answer carries its signing secret, shown this once",
    )
    def post(self, request, tenant_slug):
        if not self.allowed():
            return _forbidden(self.refusal)
        body = WebhookIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            made = services.create_webhook(
                tenant=self.tenant,
                actor=self.actor,
                url=body.validated_data.get("url", ""),
                events=body.validated_data.get("events"),
            )
        except services.SupplierError as err:
            return _invalid(err)
        response = Response(
            {"webhook": WebhookSerializer(made.endpoint).data, "secret": made.secret}, status=201
        )
        response["Cache-Control"] = "no-store"
        return response


class _WebhookAPI(_API):
    def _get(self, pk) -> WebhookEndpoint | None:
        return selectors.webhook_endpoints(tenant=self.tenant).filter(pk=pk).first()


class WebhookDetail(_WebhookAPI):
    token_scopes = {"GET": Scope.READ, "PATCH": Scope.ACT, "DELETE": Scope.ACT}

    @extend_schema(
        responses={
            200: inline_serializer(
                "WebhookDetailOut",
                {"webhook": WebhookSerializer(), "deliveries": DeliverySerializer(many=True)},
            ),
            403: ERROR,
            404: ERROR,
        },
        summary="One webhook and its latest 100 deliveries",
    )
    def get(self, request, tenant_slug, pk):
        if not self.allowed():
            return _forbidden(self.refusal)
        endpoint = self._get(pk)
        if endpoint is None:
            return _not_found("webhook")
        deliveries = selectors.webhook_deliveries(tenant=self.tenant, endpoint=endpoint)[:100]
        return Response(
            {
                "webhook": WebhookSerializer(endpoint).data,
                "deliveries": DeliverySerializer(deliveries, many=True).data,
            }
        )

    @extend_schema(
        request=WebhookIn,
        responses={200: WebhookSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Change a webhook's URL, events or whether it is active",
    )
    def patch(self, request, tenant_slug, pk):
        if not self.allowed():
            return _forbidden(self.refusal)
        endpoint = self._get(pk)
        if endpoint is None:
            return _not_found("webhook")
        body = WebhookIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            endpoint = services.update_webhook(
                tenant=self.tenant, actor=self.actor, endpoint=endpoint, **body.validated_data
            )
        except services.SupplierError as err:
            return _invalid(err)
        return Response(WebhookSerializer(endpoint).data)

    @extend_schema(responses={204: None, 403: ERROR, 404: ERROR}, summary="Remove a webhook")
    def delete(self, request, tenant_slug, pk):
        if not self.allowed():
            return _forbidden(self.refusal)
        endpoint = self._get(pk)
        if endpoint is None:
            return _not_found("webhook")
        services.delete_webhook(tenant=self.tenant, actor=self.actor, endpoint=endpoint)
        return Response(status=204)


class WebhookRotate(_WebhookAPI):
    token_scopes = {"POST": Scope.ACT}

    @extend_schema(
        request=None,
        responses={200: WITH_SECRET, 403: ERROR, 404: ERROR},
        summary="Replace a webhook's signing secret; the new one is in the answer, shown this once",
    )
    def post(self, request, tenant_slug, pk):
        if not self.allowed():
            return _forbidden(self.refusal)
        endpoint = self._get(pk)
        if endpoint is None:
            return _not_found("webhook")
        made = services.rotate_webhook_secret(tenant=self.tenant, actor=self.actor, endpoint=endpoint)
        response = Response({"webhook": WebhookSerializer(made.endpoint).data, "secret": made.secret})
        response["Cache-Control"] = "no-store"
        return response


__all__ = [
    "NotificationList",
    "SupplierDetail",
    "SupplierImport",
    "SupplierList",
    "WebhookDetail",
    "WebhookList",
    "WebhookRotate",
]
