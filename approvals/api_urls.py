from django.urls import path

from . import api

# Mounted at /api/v1/t/<tenant_slug>/ by ims_project/api_urls.py.
urlpatterns = [
    path("approvals/policies/", api.PolicyList.as_view(), name="api-approval-policies"),
    path("approvals/policies/<int:pk>/", api.PolicyDetail.as_view(), name="api-approval-policy"),
    path("approvals/requests/", api.RequestList.as_view(), name="api-approval-requests"),
    path("approvals/requests/<int:pk>/", api.RequestDetail.as_view(), name="api-approval-request"),
    path(
        "approvals/requests/<int:pk>/approve/",
        api.RequestDecision.as_view(decision="approve"),
        name="api-approval-approve",
    ),
    path(
        "approvals/requests/<int:pk>/return/",
        api.RequestDecision.as_view(decision="return"),
        name="api-approval-return",
    ),
    path(
        "approvals/requests/<int:pk>/withdraw/",
        api.RequestDecision.as_view(decision="withdraw"),
        name="api-approval-withdraw",
    ),
    path("approvals/impact/", api.BulkImpact.as_view(), name="api-approval-impact"),
]
