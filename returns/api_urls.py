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
]
