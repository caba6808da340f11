from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path("registrations/<int:registration_id>/sync/", api.SyncNow.as_view(), name="api-sync-now"),
    path("registrations/<int:registration_id>/push/", api.PushNow.as_view(), name="api-push-now"),
    path("outward-documents/", api.OutwardList.as_view(), name="api-outward-list"),
    path("sync-runs/", api.SyncRunList.as_view(), name="api-sync-run-list"),
    path("sync-runs/<int:pk>/", api.SyncRunDetail.as_view(), name="api-sync-run-detail"),
]
