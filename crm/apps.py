from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from access.visibility import register_criteria_compiler
        from crm.guards import register_guard

        from .criteria import to_q
        from .guards import field_permission_guard
        from .schema import BoundSchema

        def compile_rule_criteria(module, org, criteria):
            # Views pass a schema already bound to the org: binding again would re-read its fields.
            bound = module if isinstance(module, BoundSchema) and module.org.pk == org.pk else module.bind(org)
            return to_q(criteria, bound)

        # Sharing rules keep criteria as JSON; the visibility query compiles them through here.
        register_criteria_compiler(compile_rule_criteria)
        register_guard(field_permission_guard)
