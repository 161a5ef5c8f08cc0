from django.urls import path

from . import workflow_views as views

urlpatterns = [
    path("settings/automation/m/<slug:module>/workflow/", views.RuleListView.as_view(), name="workflow_rules"),
    path("settings/automation/m/<slug:module>/workflow/new/", views.RuleFormView.as_view(), name="workflow_rule_new"),
    path("settings/automation/m/<slug:module>/workflow/action-row/", views.ActionRowView.as_view(),
         name="workflow_action_row"),
    path("settings/automation/workflow/<int:workflow_rule_pk>/", views.RuleFormView.as_view(), name="workflow_rule"),
    path("settings/automation/workflow/<int:workflow_rule_pk>/delete/", views.RuleDeleteView.as_view(),
         name="workflow_rule_delete"),
    path("settings/automation/workflow/<int:workflow_rule_pk>/active/", views.RuleActiveView.as_view(),
         name="workflow_rule_active"),
    path("settings/automation/workflow/<int:workflow_rule_pk>/move/", views.RuleMoveView.as_view(),
         name="workflow_rule_move"),
    path("settings/automation/workflow/<int:workflow_rule_pk>/dry-run/", views.DryRunView.as_view(),
         name="workflow_dry_run"),
    path("settings/automation/workflow/<int:workflow_rule_pk>/log/", views.RunLogView.as_view(), name="workflow_log"),
]
