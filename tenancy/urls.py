from django.contrib.auth import views as auth_views
from django.urls import include, path

from invoices import views as invoice_views

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("t/<slug:tenant_slug>/", invoice_views.tenant_home, name="tenant-home"),
]
_ = auth_views
