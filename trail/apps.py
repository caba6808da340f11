from django.apps import AppConfig


class TrailConfig(AppConfig):
    name = "trail"
    verbose_name = "Audit trail pages"

    def ready(self):
        from . import exports  # noqa: F401 - registers the "audit" export kind
