from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", include("tenancy.urls")),
    path("t/<slug:tenant_slug>/", include("invoices.urls")),
    path("t/<slug:tenant_slug>/audit/", include("trail.urls")),
    path("t/<slug:tenant_slug>/exports/", include("exports.urls")),
    path("t/<slug:tenant_slug>/portal/files/", include("gst_sync.files.urls")),
    path("t/<slug:tenant_slug>/portal/", include("gst_sync.urls")),
    path("t/<slug:tenant_slug>/actions/", include("actions.urls")),
    path("t/<slug:tenant_slug>/returns/", include("returns.urls")),
    path("t/<slug:tenant_slug>/reconciliation/", include("reconciliation.urls")),
    path("t/<slug:tenant_slug>/suppliers/", include("suppliers.urls")),
    path("t/<slug:tenant_slug>/autorules/", include("autorules.urls")),
    path("t/<slug:tenant_slug>/approvals/", include("approvals.urls")),
    path("t/<slug:tenant_slug>/batches/", include("pipeline.urls")),
    path("t/<slug:tenant_slug>/notifications/", include("notifications.urls")),
    path("api/v1/", include("ims_project.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the Content-Security-Policy.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("django-admin/", admin.site.urls),
]

# A 400 names the field that was refused (ims_project/errors.py).
handler400 = "ims_project.errors.bad_request"
