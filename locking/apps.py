from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LockingConfig(AppConfig):
    name = "locking"
    verbose_name = _("Record locking")

    def ready(self) -> None:
        from access.decisions import register_field_rules, register_guard, register_preloader
        from crm.actions.recycle_bin import register_before_purge
        from crm.guards import register_after_write

        from .actions import purge_record_locks, sync_rule_locks
        from .guards import locking_guard
        from .state import preload_rows
        from .ui import lock_field_rules

        register_guard(locking_guard)
        register_field_rules(lock_field_rules)
        register_preloader(preload_rows)
        register_after_write(sync_rule_locks)
        register_before_purge(purge_record_locks)

        from . import tasks, ui  # noqa: F401  (ui registers the page providers, tasks the job runner)
