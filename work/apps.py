from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkConfig(AppConfig):
    name = "work"
    verbose_name = _("My Work")

    def ready(self) -> None:
        from crm.work import register_work_section

        from .getting_started import getting_started

        register_work_section(getting_started, order=0)
