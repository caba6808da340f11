from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "returns"
    verbose_name = "GSTR-2B and GSTR-3B previews"

    def ready(self):
        from invoices import facets, panels, today

        from . import exports  # noqa: F401 - registers the "twob_preview" export
        from .claims import claim_panel
        from .selectors import in_queue
        from .today import today_items

        facets.register("deadline", facets.Facet(apply=in_queue))
        panels.register("itc_claim", claim_panel)
        today.register("returns", today_items)
