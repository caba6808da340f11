"""REST API v1 for supplier documents (under /api/v1/t/<slug>/). Same visibility and filters as the pages."""

from __future__ import annotations

from django.db.models import Prefetch
from rest_framework import generics
from rest_framework.pagination import CursorPagination

from tenancy.api import TenantAPIMixin
from tenancy.roles import Scope
from tenancy.scoping import scopes_disabled

from . import selectors
from .filters import DocumentFilter
from .models import DocumentVersion, SupplierDocument
from .serializers import DocumentDetailSerializer, DocumentSerializer


def _schema_queryset():
    with scopes_disabled():
        return SupplierDocument.objects.none()


class DocumentCursorPagination(CursorPagination):
    ordering = ("-doc_date", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class DocumentList(TenantAPIMixin, generics.ListAPIView):
    """Documents of the GSTINs you may see, newest first, filtered like the list page; follow `next`."""

    token_scopes = {"GET": Scope.READ}

    serializer_class = DocumentSerializer
    filterset_class = DocumentFilter
    pagination_class = DocumentCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no tenant, no scope
            return _schema_queryset()
        return selectors.documents_for(
            tenant=self.tenant, user=self.request.user, membership=self.membership
        ).select_related("registration")


class DocumentDetail(TenantAPIMixin, generics.RetrieveAPIView):
    """One document with its versions; a document of a GSTIN you may not see (or of another tenant) is 404."""

    token_scopes = {"GET": Scope.READ}

    serializer_class = DocumentDetailSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return _schema_queryset()
        return (
            selectors.documents_for(tenant=self.tenant, user=self.request.user, membership=self.membership)
            .select_related("registration")
            .prefetch_related(Prefetch("versions", queryset=DocumentVersion.objects.order_by("-version")))
        )
