from django.urls import path

from . import views

urlpatterns = [
    path("", views.batch_list, name="client-batches"),
    path("start/", views.batch_start, name="client-batch-start"),
    path("<int:batch_id>/", views.batch_detail, name="client-batch"),
]
