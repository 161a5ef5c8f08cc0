from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from access.modules import register_module_provider
        from access import decisions
        from access.visibility import register_criteria_compiler

        from . import decisions as crm_decisions
        from .actions import bound_schema
        from .criteria import to_q
        from .guards import field_permission_guard
        from .modules import org_modules

        # Sharing rules keep criteria as JSON; the visibility query compiles them through here
        # (a schema the view already bound is not bound again).
        register_criteria_compiler(lambda module, org, criteria: to_q(criteria, module.bind(org)))
        decisions.register_guard(field_permission_guard)
        decisions.register_guard(crm_decisions.note_author_guard)
        decisions.register_schema_resolver(bound_schema)  # the actions' own lookup
        decisions.register_field_rules(crm_decisions.profile_field_rules)
        decisions.register_explainer(crm_decisions.explain_org_refusal)
        decisions.register_module_rule(crm_decisions.profile_module_rule)
        # The access settings pages (profile grids, field levels, the access log) list these.
        register_module_provider(org_modules)
        # Sharing and unsharing a record are entries on its timeline.
        from access.share_actions import register_share_listener

        from .timeline import write_share_entry

        register_share_listener(write_share_entry)
        # My Work: the user's tasks and the records they opened lately.
        from . import work_sections

        work_sections.register()
