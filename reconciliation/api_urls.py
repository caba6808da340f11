from django.urls import path

from . import api, api_rules

# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path("purchase-register/", api.RegisterUpsert.as_view(), name="api-register-upsert"),
    path("reconciliation/matches/", api.MatchList.as_view(), name="api-recon-matches"),
    path("reconciliation/writeback/", api.Writeback.as_view(), name="api-recon-writeback"),
    path("reconciliation/writeback/send/", api.WritebackSend.as_view(), name="api-recon-writeback-send"),
    path("reconciliation/runs/<int:pk>/", api.RunSummary.as_view(), name="api-recon-run"),
    path("reconciliation/rules/", api_rules.RulesView.as_view(), name="api-recon-rules"),
]
