from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = _("Import")

    def ready(self) -> None:
        from crm.modules import register_list_action_provider

        from . import tasks  # noqa: F401  (registers the dry run and the run with Celery)
        from .links import list_actions

        register_list_action_provider(list_actions)
