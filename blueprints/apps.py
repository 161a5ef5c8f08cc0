from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BlueprintsConfig(AppConfig):
    name = "blueprints"
    verbose_name = _("Blueprints")

    def ready(self) -> None:
        from access.decisions import register_field_rules, register_guard, register_preloader
        from crm.guards import register_after_write
        from crm.modules import (register_card_mark_provider, register_header_panel_provider,
                                 register_module_link_provider, register_row_mark_provider)
        from crm.timeline import register_path_labels
        from crm.work import register_work_section

        from . import kinds, selectors, ui
        from crm.actions.recycle_bin import register_before_purge

        from .actions.transitions import purge_memberships, sync_membership, sync_membership_many
        from .guards import blueprint_field_rules, blueprint_guard

        register_guard(blueprint_guard)
        register_field_rules(blueprint_field_rules)
        register_preloader(selectors.preload)
        register_after_write(sync_membership, many=sync_membership_many)
        register_before_purge(purge_memberships)
        register_header_panel_provider(ui.record_panel)
        register_card_mark_provider(ui.overdue_marks)
        register_row_mark_provider(ui.overdue_marks)
        register_module_link_provider(ui.module_links)
        register_path_labels("blueprint:", ui.path_labels)
        register_work_section(ui.transitions_i_own, order=40, counter=ui.transitions_waiting)
        kinds.register()
        # A transition's after-actions run through the workflow engine: retried like its runs.
        from automation.workflow import register_run_kind

        from .actions.after import RUN_KIND, target

        register_run_kind(RUN_KIND, target, key_prefix="bp")
        from . import tasks  # noqa: F401  (registers the Celery tasks)
