from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/actions/ by ims_project/urls.py.
urlpatterns = [
    path("confirm/", views.bulk_confirm, name="action-confirm"),
    path("apply/", views.bulk_apply, name="action-apply"),
    path("runs/<int:pk>/", views.run_detail, name="action-run"),
    path("documents/<int:pk>/", views.document_action, name="document-action"),
]
