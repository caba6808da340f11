from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/reconciliation/ by ims_project/urls.py.
urlpatterns = [
    path("", views.home, name="recon-home"),
    path("matches/", views.matches, name="recon-matches"),
    path("matches/<int:pk>/", views.pair, name="recon-pair"),
    path("compare/", views.compare_view, name="recon-compare"),
    path("rules/", views.rules_view, name="recon-rules"),
    path("outcome-actions/", views.outcome_actions_view, name="recon-outcome-actions"),
    path("export/", views.export_view, name="recon-export"),
    path("why-not/", views.why_not, name="recon-why-not"),
    path("link/", views.link_view, name="recon-link"),
    path("writeback/", views.writeback_view, name="recon-writeback"),
    path("register/", views.register, name="recon-register"),
    path("register/mapping/", views.register_mapping, name="recon-register-mapping"),
    path("register/lines/", views.register_lines, name="recon-register-lines"),
    path("register/template/", views.register_template, name="recon-register-template"),
    path("register/imports/<int:pk>/", views.import_detail, name="recon-import"),
    path("register/imports/<int:pk>/errors/", views.import_errors, name="recon-import-errors"),
]
