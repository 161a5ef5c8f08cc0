from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"

    def ready(self) -> None:
        from crm.events import subscribe
        from crm.timeline import register_path_labels

        from . import assignment, pipeline, rule_kinds
        from .tasks import notify_stage, record_events

        subscribe(record_events, durable=True)
        register_path_labels(rule_kinds.RULE_PREFIX, rule_kinds.path_labels)
        pipeline.register_stage("notifications", notify_stage)
        assignment.setup()
        from . import mail_kind, webhook_kind  # noqa: F401  (registers the e-mail and webhook action kinds)
        from . import workflow, workflow_actions_builtin, workflow_tasks  # noqa: F401  (kinds, tasks)
        pipeline.register_stage("workflow", workflow.workflow_stage)
        rule_kinds.register_rule_kind("workflow", workflow.WorkflowRule)
        from . import rule_engine

        rule_engine.register()
