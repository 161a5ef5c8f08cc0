from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DedupeConfig(AppConfig):
    name = "dedupe"
    verbose_name = _("Duplicates and merge")

    def ready(self) -> None:
        from crm.modules import register_list_action_provider

        from .links import list_actions

        register_list_action_provider(list_actions)
