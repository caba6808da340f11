from django.urls import path

from . import views as file_views

# Mounted at /t/<tenant_slug>/portal/files/ by ims_project/urls.py.
urlpatterns = [
    path("", file_views.files_home, name="portal-files"),
    path(
        "<int:registration_id>/offline-upload.json",
        file_views.offline_upload,
        name="portal-files-offline-upload",
    ),
]
