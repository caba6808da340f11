from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
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
        user_logged_in.connect(signals.signed_in, dispatch_uid="tenancy.security.signed_in")
        user_logged_out.connect(signals.signed_out, dispatch_uid="tenancy.security.signed_out")
        user_login_failed.connect(signals.sign_in_failed, dispatch_uid="tenancy.security.sign_in_failed")
