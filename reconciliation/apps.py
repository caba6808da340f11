from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self):
        from invoices import facets, panels, today
        from returns import claims

        from . import exports  # noqa: F401 - registers the "reconciliation" export kind
        from .bookings import booked_sql
        from .latest import FACET
        from .panels import pair_panel
        from .suggestions import suggestion_panel
        from .today import today_items

        facets.register("reconciliation", FACET)
        panels.register("itc_suggestion", suggestion_panel)
        panels.register("recon_pair", pair_panel)
        today.register("recon", today_items)
        if booked_sql not in claims.BOOKINGS:
            claims.BOOKINGS.append(booked_sql)
