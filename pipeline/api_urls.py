from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path("batches/", api.BatchList.as_view(), name="api-client-batches"),
    path("batches/<int:pk>/", api.BatchDetail.as_view(), name="api-client-batch"),
]
