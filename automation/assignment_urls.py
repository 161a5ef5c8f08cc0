"""Pages of assignment rules, under the automation settings (included by automation.urls)."""
from django.urls import path

from . import assignment_views as views

BASE = "settings/automation/assignment/"

urlpatterns = [
    path("settings/automation/m/<slug:module>/assignment/", views.RulesView.as_view(), name="assignment_rules"),
    path("settings/automation/m/<slug:module>/assignment/new/", views.RuleFormView.as_view(),
         name="assignment_rule_new"),
    path(f"{BASE}<int:assignment_rule_pk>/", views.RuleView.as_view(), name="assignment_rule"),
    path(f"{BASE}<int:assignment_rule_pk>/delete/", views.RuleDeleteView.as_view(), name="assignment_rule_delete"),
    path(f"{BASE}<int:assignment_rule_pk>/activate/", views.RuleStateView.as_view(op="activate"),
         name="assignment_rule_activate"),
    path(f"{BASE}<int:assignment_rule_pk>/deactivate/", views.RuleStateView.as_view(op="deactivate"),
         name="assignment_rule_deactivate"),
    path(f"{BASE}<int:assignment_rule_pk>/dry-run/", views.DryRunView.as_view(), name="assignment_rule_dry_run"),
    path(f"{BASE}<int:assignment_rule_pk>/entries/new/", views.EntryFormView.as_view(), name="assignment_entry_new"),
    path(f"{BASE}entries/<int:assignment_entry_pk>/", views.EntryFormView.as_view(), name="assignment_entry"),
    path(f"{BASE}entries/<int:assignment_entry_pk>/delete/", views.EntryDeleteView.as_view(), name="assignment_entry_delete"),
    path(f"{BASE}entries/<int:assignment_entry_pk>/move/", views.EntryMoveView.as_view(), name="assignment_entry_move"),
    path(f"{BASE}jobs/<int:assignment_job_pk>/", views.JobView.as_view(), name="assignment_job"),
    path("m/<slug:module>/assign-by-rule/", views.RunSelectedView.as_view(), name="assignment_run_selected"),
    path("m/<slug:module>/assign-list-by-rule/", views.RunListView.as_view(), name="assignment_run_list"),
]
