from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.modules import register_export_url_provider

        from .views import export_url

        register_export_url_provider(export_url)

        from . import tasks  # noqa: F401  (registers the job runner)
