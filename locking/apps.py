from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LockingConfig(AppConfig):
    name = "locking"
    verbose_name = _("Record locking")

    def ready(self) -> None:
        from crm.actions.recycle_bin import register_before_purge
        from crm.guards import register_after_write, register_guard

        from .actions import purge_record_locks, sync_rule_locks
        from .guards import locking_guard

        register_guard(locking_guard)
        register_after_write(sync_rule_locks)
        register_before_purge(purge_record_locks)

        from . import tasks, ui  # noqa: F401  (ui registers the page providers, tasks the job runner)
