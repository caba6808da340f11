from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/returns/ by ims_project/urls.py.
urlpatterns = [
    path("", views.home, name="twob-home"),
    path("deadlines/", views.deadlines, name="twob-deadlines"),
    path("2b/<int:registration_id>/<str:period>/", views.preview, name="twob-preview"),
    path("2b/<int:registration_id>/<str:period>/rebuild/", views.rebuild, name="twob-rebuild"),
    path(
        "2b/<int:registration_id>/<str:period>/rebuild/<int:rebuild_id>/",
        views.rebuild_status,
        name="twob-rebuild-status",
    ),
    path("2b/<int:registration_id>/<str:period>/recompute/", views.recompute, name="twob-recompute"),
    path("2b/<int:registration_id>/<str:period>/documents/", views.documents, name="twob-documents"),
    path("2b/<int:registration_id>/<str:period>/preview.json", views.download_json, name="twob-json"),
    path("2b/<int:registration_id>/<str:period>/preview.xlsx", views.download_excel, name="twob-excel"),
]
