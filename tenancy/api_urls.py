from django.urls import path

from . import token_api

# Mounted at /api/v1/auth/ by ims_project/api_urls.py.
urlpatterns = [
    path("token/", token_api.ObtainToken.as_view(), name="api-token"),
]
