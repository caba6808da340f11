from django.urls import path

from . import views

# Mounted at /t/<tenant_slug>/notifications/ by ims_project/urls.py.
urlpatterns = [
    path("", views.notification_list, name="notifications"),
    path("read/", views.notification_read, name="notifications-read"),
]
