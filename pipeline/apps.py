from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = "What runs after what"

    def ready(self):
        from . import flows

        flows.connect()
