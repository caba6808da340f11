from django.urls import include, path

urlpatterns = [
    path("t/<slug:tenant_slug>/", include("invoices.api_urls")),
]
