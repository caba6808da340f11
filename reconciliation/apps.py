from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self):
        from invoices import facets

        from . import exports  # noqa: F401 - registers the "reconciliation" export kind
        from .latest import FACET

        facets.register("reconciliation", FACET)
