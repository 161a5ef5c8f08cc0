from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = _("Approval processes")

    def ready(self) -> None:
        from access.decisions import (register_decision_guard, register_field_rules, register_guard,
                                      register_preloader)
        from access.visibility import register_grant_provider
        from automation import messages
        from automation.holds import register_hold
        from automation.rule_kinds import register_rule_kind
        from automation.workflow_forms import register_action_editor
        from crm.guards import register_after_write
        from crm.timeline import register_path_labels
        from crm.work import register_work_section

        from . import engine, grants, guards, kinds, labels, tasks, ui, work  # noqa: F401  (kinds registers the action kind)
        from .models import ApprovalProcess

        register_guard(guards.approval_guard)
        register_decision_guard("approve", guards.decision_guard)
        register_decision_guard("recall", guards.decision_guard)
        register_grant_provider(grants.approval_grants)
        register_field_rules(guards.approval_field_rules)
        register_preloader(engine.preload_pending)
        register_hold(guards.approval_hold)
        register_after_write(guards.enter_on_write)
        register_path_labels("approval:", guards.path_labels)
        register_rule_kind("approval", ApprovalProcess)
        messages.TEXTS.update(labels.NOTICE_TEXTS)
        messages.KIND_LABELS.update(labels.NOTICE_KINDS)
        labels.register_timeline_labels()
        register_work_section(work.awaiting_my_approval, order=20, counter=work.awaiting_count)
        ui.register()
        # The process form's final actions: the workflow rules' action editor, without delays (they
        # run in the deciding transaction).
        register_action_editor("on_approve", prefix="approve", delay=False)
        register_action_editor("on_reject", prefix="reject", delay=False)
