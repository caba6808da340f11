from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit ledger"

    def ready(self):
        from . import exports  # noqa: F401 - registers the "audit" export kind
