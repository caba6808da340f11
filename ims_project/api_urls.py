from django.urls import include, path

# Mounted at /api/v1/ by ims_project/urls.py.
urlpatterns = [
    path("auth/", include("tenancy.api_urls")),
    path("t/<slug:tenant_slug>/", include("invoices.api_urls")),
    path("t/<slug:tenant_slug>/", include("gst_sync.api_urls")),
    path("t/<slug:tenant_slug>/", include("actions.api_urls")),
    path("t/<slug:tenant_slug>/", include("approvals.api_urls")),
    path("t/<slug:tenant_slug>/", include("notifications.api")),
    path("t/<slug:tenant_slug>/", include("gst_sync.files.api")),
    path("t/<slug:tenant_slug>/", include("returns.api_urls")),
    path("t/<slug:tenant_slug>/", include("reconciliation.api_urls")),
    path("t/<slug:tenant_slug>/", include("autorules.api_urls")),
    path("t/<slug:tenant_slug>/", include("suppliers.api_urls")),
    path("t/<slug:tenant_slug>/", include("pipeline.api_urls")),
]
