from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ (see approvals/api_urls.py).
urlpatterns = [
    path("suppliers/", api.SupplierList.as_view(), name="api-suppliers"),
    path("suppliers/import/", api.SupplierImport.as_view(), name="api-supplier-import"),
    path("suppliers/notifications/", api.NotificationList.as_view(), name="api-supplier-notifications"),
    path("suppliers/<int:pk>/", api.SupplierDetail.as_view(), name="api-supplier"),
    path("webhooks/", api.WebhookList.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", api.WebhookDetail.as_view(), name="api-webhook"),
    path("webhooks/<int:pk>/rotate-secret/", api.WebhookRotate.as_view(), name="api-webhook-rotate"),
]
