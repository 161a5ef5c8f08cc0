from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from access.modules import register_module_provider
        from access.visibility import register_criteria_compiler
        from crm.guards import register_guard

        from .criteria import to_q
        from .guards import field_permission_guard
        from .modules import org_modules

        # Sharing rules keep criteria as JSON; the visibility query compiles them through here
        # (a schema the view already bound is not bound again).
        register_criteria_compiler(lambda module, org, criteria: to_q(criteria, module.bind(org)))
        register_guard(field_permission_guard)
        # The access settings pages (profile grids, field levels, the access log) list these.
        register_module_provider(org_modules)
        # Sharing and unsharing a record are entries on its timeline.
        from access.share_actions import register_share_listener

        from .timeline import write_share_entry

        register_share_listener(write_share_entry)
