from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/approvals/ by ims_project/urls.py.
urlpatterns = [
    path("", views.approval_list, name="approval-list"),
    path("<int:pk>/", views.approval_detail, name="approval-detail"),
    path("<int:pk>/approve/", views.approval_decide, {"decision": "approve"}, name="approval-approve"),
    path("<int:pk>/return/", views.approval_decide, {"decision": "return"}, name="approval-return"),
    path("<int:pk>/withdraw/", views.approval_decide, {"decision": "withdraw"}, name="approval-withdraw"),
    path("policies/", views.policy_list, name="approval-policies"),
    path("policies/<int:pk>/", views.policy_edit, name="approval-policy-edit"),
    path("policies/<int:pk>/delete/", views.policy_delete, name="approval-policy-delete"),
]
