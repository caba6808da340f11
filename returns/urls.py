from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/returns/ by ims_project/urls.py.
urlpatterns = [
    path("", views.home, name="twob-home"),
    path("deadlines/", views.deadlines, name="twob-deadlines"),
    path("filings/", views.filings, name="returns-filings"),
    path("filings/<int:pk>/", views.filing_edit, name="returns-filing-edit"),
    path("filings/<int:pk>/delete/", views.filing_delete, name="returns-filing-delete"),
    path("rule37a/", views.rule37a, name="returns-rule37a"),
    path("rule37a/refresh/", views.rule37a_refresh, name="returns-rule37a-refresh"),
    path("credit-reversal/", views.balances, name="returns-balances"),
    path("credit-reversal/<int:pk>/delete/", views.balance_delete, name="returns-balance-delete"),
    path("2b/<int:registration_id>/<str:period>/", views.preview, name="twob-preview"),
    path("2b/<int:registration_id>/<str:period>/rebuild/", views.rebuild, name="twob-rebuild"),
    path(
        "2b/<int:registration_id>/<str:period>/rebuild/<int:rebuild_id>/",
        views.rebuild_status,
        name="twob-rebuild-status",
    ),
    path("2b/<int:registration_id>/<str:period>/recompute/", views.recompute, name="twob-recompute"),
    path("2b/<int:registration_id>/<str:period>/fetch/", views.fetch_portal_2b, name="twob-fetch"),
    path("2b/<int:registration_id>/<str:period>/documents/", views.documents, name="twob-documents"),
    path("2b/<int:registration_id>/<str:period>/preview.json", views.download_json, name="twob-json"),
    path("2b/<int:registration_id>/<str:period>/preview.xlsx", views.download_excel, name="twob-excel"),
]
