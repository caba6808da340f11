from django.urls import path

from . import views

urlpatterns = [
    path("", views.portal_home, name="portal-home"),
    path("sync-all/", views.sync_all, name="portal-sync-all"),
    path("push-all/", views.push_all, name="portal-push-all"),
    path("<int:registration_id>/otp/request/", views.request_otp, name="portal-otp-request"),
    path("<int:registration_id>/otp/", views.submit_otp, name="portal-otp"),
    path("<int:registration_id>/sync/", views.sync_now, name="portal-sync"),
    path("<int:registration_id>/push/", views.push_now, name="portal-push"),
    path("pushes/<int:batch_id>/", views.push_detail, name="push-batch"),
    path("outward/", views.outward_list, name="portal-outward"),
    path("runs/<int:run_id>/", views.run_detail, name="sync-run"),
    path("runs/<int:run_id>/export/", views.run_export, name="sync-run-export"),
]
