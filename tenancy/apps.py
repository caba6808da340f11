from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        from . import schema, signals  # noqa: F401, PLC0415 - registered and connected once the apps are loaded

        user_model = get_user_model()
        pre_save.connect(signals.note_user_change, sender=user_model, dispatch_uid="tenancy.tokens.pre_save")
        post_save.connect(
            signals.revoke_after_user_change, sender=user_model, dispatch_uid="tenancy.tokens.post_save"
        )
