from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = _("Team spaces")

    def ready(self) -> None:
        from access.visibility import register_grant_provider
        from access.decisions import register_explainer, register_field_rules, register_guard, register_module_rule
        from crm.board_views import register_assign_provider
        from crm.modules import register_panel_provider, register_resolver

        from . import related
        from .access import explain_team_refusal, team_grants
        from .board_views import chart_assign_offer
        from .guards import team_field_rules, team_guard, team_module_rule
        from .public import public_panel_blocks
        from .schema import resolve

        register_resolver(resolve)
        register_grant_provider(team_grants)
        register_guard(team_guard)
        register_field_rules(team_field_rules)
        register_explainer(explain_team_refusal)
        register_module_rule(team_module_rule)
        register_panel_provider(public_panel_blocks)
        register_assign_provider(chart_assign_offer)
        related.register()
        # The recycle bin lists and purges team records too.
        from crm.modules import register_module_lister, register_record_model

        from .models import TeamRecord
        from .schema import modules_of

        register_module_lister(modules_of)
        register_record_model(TeamRecord)
        # My Work: team records assigned to the user and their open requests.
        from . import work_sections

        work_sections.register()
        from crm.timeline import register_path_labels

        from .actions import REQUEST_PATH

        register_path_labels(REQUEST_PATH, request_path_labels)


def request_path_labels(org_id: int, paths: set[str]) -> dict[str, str]:
    """The timeline's "from the Requests tab" for writes of a request by its requester there."""
    from django.utils.translation import gettext

    return {path: gettext("from the Requests tab") for path in paths}
