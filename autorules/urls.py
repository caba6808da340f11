from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/autorules/ by ims_project/urls.py.
urlpatterns = [
    path("", views.rule_list, name="autorule-list"),
    path("new/", views.rule_create, name="autorule-create"),
    path("<int:pk>/", views.rule_edit, name="autorule-edit"),
    path("<int:pk>/delete/", views.rule_delete, name="autorule-delete"),
    path("<int:pk>/run/", views.rule_run, name="autorule-run"),
]
