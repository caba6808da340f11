from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "approvals"
    verbose_name = "Maker-checker approvals"

    def ready(self):
        from actions import gates
        from gst_sync import holds

        from .selectors import bulk_impact, held_documents
        from .services import hold_actions

        gates.register(gates.Gate(hold=hold_actions, preview=bulk_impact))
        holds.register(held_documents)
