from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"
    verbose_name = "Inward documents"

    def ready(self):
        from audit import names

        from . import exports  # noqa: F401 - registers the "documents" export kind
        from .selectors import supplier_names

        names.register("supplier", lambda *, tenant, keys: supplier_names(tenant=tenant, gstins=keys))
