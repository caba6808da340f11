from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ (see approvals/api_urls.py).
urlpatterns = [
    path("autorules/", api.RuleList.as_view(), name="api-autorules"),
    path("autorules/runs/", api.RuleRuns.as_view(), name="api-autorule-runs"),
    path("autorules/<int:pk>/", api.RuleDetail.as_view(), name="api-autorule"),
    path("autorules/<int:pk>/dry-run/", api.RuleDryRun.as_view(), name="api-autorule-dry-run"),
    path("autorules/<int:pk>/run/", api.RuleRun.as_view(), name="api-autorule-run"),
]
