from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path("documents/<int:pk>/action/", api.DocumentAction.as_view(), name="api-document-action"),
    path("actions/bulk/", api.BulkAction.as_view(), name="api-bulk-action"),
    path("actions/runs/<int:pk>/", api.RunDetail.as_view(), name="api-bulk-action-run"),
]
