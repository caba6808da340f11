from django.apps import AppConfig


class AutorulesConfig(AppConfig):
    name = "autorules"
    verbose_name = "Auto-action rules"
