from django.apps import AppConfig


class GstSyncConfig(AppConfig):
    name = "gst_sync"
    verbose_name = "GST portal sync"
