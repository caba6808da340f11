from django.apps import AppConfig


class GstSyncConfig(AppConfig):
    name = "gst_sync"
    verbose_name = "GST portal sync"

    def ready(self):
        from invoices import facets, panels, today

        from . import exports  # noqa: F401 - registers the "sync_diff" export
        from .selectors import in_push_queue, pushes_panel
        from .today import today_items as sync_today

        panels.register("pushes", pushes_panel)
        facets.register("pending_push", facets.Facet(apply=in_push_queue))
        today.register("sync", sync_today)
