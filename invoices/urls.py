from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/ by ims_project/urls.py: the tenant's dashboard and its documents.
urlpatterns = [
    path("", views.tenant_home, name="tenant-home"),
    path("documents/", views.document_list, name="document-list"),
    path("documents/count/", views.document_count, name="document-count"),
    path("documents/export/", views.document_export, name="document-export"),
    path("documents/<int:pk>/", views.document_detail, name="document-detail"),
    path("documents/views/", views.saved_views, name="saved-views"),
    path("documents/views/<int:pk>/delete/", views.saved_view_delete, name="saved-view-delete"),
]
