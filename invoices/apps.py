from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"
    verbose_name = "Inward documents"

    def ready(self):
        from . import exports  # noqa: F401 - registers the "documents" export kind
