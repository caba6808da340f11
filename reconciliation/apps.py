from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self):
        from . import exports  # noqa: F401 - registers the "reconciliation" export kind
