from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path(
        "returns/2b/<int:registration_id>/<str:period>/", api.PreviewDetail.as_view(), name="api-twob-preview"
    ),
    path(
        "returns/2b/<int:registration_id>/<str:period>/rebuild/",
        api.PreviewRebuild.as_view(),
        name="api-twob-rebuild",
    ),
    path(
        "returns/2b/rebuilds/<int:rebuild_id>/", api.RebuildStatus.as_view(), name="api-twob-rebuild-status"
    ),
    path(
        "returns/2b/<int:registration_id>/<str:period>/json/", api.PreviewJson.as_view(), name="api-twob-json"
    ),
    path("returns/filings/", api.FilingList.as_view(), name="api-returns-filings"),
    path("returns/filings/<int:pk>/", api.FilingDetail.as_view(), name="api-returns-filing"),
    path("returns/rule37a/<int:registration_id>/", api.Rule37aWatch.as_view(), name="api-returns-rule37a"),
    path("returns/credit-reversal/", api.BalanceList.as_view(), name="api-returns-balances"),
    path("returns/credit-reversal/<int:pk>/", api.BalanceDetail.as_view(), name="api-returns-balance"),
]
