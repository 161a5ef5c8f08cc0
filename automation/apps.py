from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"

    def ready(self) -> None:
        from crm.events import subscribe

        from .tasks import on_record_event

        subscribe(on_record_event)
