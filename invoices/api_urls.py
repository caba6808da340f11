from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path("documents/", api.DocumentList.as_view(), name="api-document-list"),
    path("documents/<int:pk>/", api.DocumentDetail.as_view(), name="api-document-detail"),
]
