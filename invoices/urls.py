from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/documents/ by ims_project/urls.py.
urlpatterns = [
    path("", views.document_list, name="document-list"),
    path("count/", views.document_count, name="document-count"),
    path("export/", views.document_export, name="document-export"),
    path("api-access/", views.api_access, name="api-access"),
    path("<int:pk>/", views.document_detail, name="document-detail"),
]
