from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("tenancy.urls")),
    path("t/<slug:tenant_slug>/documents/", include("invoices.urls")),
    path("t/<slug:tenant_slug>/audit/", include("audit.urls")),
    path("api/v1/", include("ims_project.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("django-admin/", admin.site.urls),
]
