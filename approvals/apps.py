from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "approvals"
    verbose_name = "Maker-checker approvals"

    def ready(self):
        from actions import gates
        from gst_sync import holds
        from invoices import today

        from .selectors import bulk_impact, held_documents
        from .services import hold_actions
        from .today import today_items

        gates.register(gates.Gate(hold=hold_actions, preview=bulk_impact))
        holds.register(held_documents)
        today.register("approvals", today_items)
