from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/suppliers/ by ims_project/urls.py.
urlpatterns = [
    path("", views.supplier_list, name="supplier-list"),
    path("<int:pk>/", views.supplier_edit, name="supplier-edit"),
    path("import/", views.supplier_import, name="supplier-import"),
    path("fill/", views.supplier_fill, name="supplier-fill"),
    path("notifications/", views.notification_list, name="supplier-notifications"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("webhooks/<int:pk>/rotate/", views.webhook_rotate, name="webhook-rotate"),
]
