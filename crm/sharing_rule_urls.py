"""Sharing-rule settings pages, included at the project root beside `access.settings_urls` (the
URL names are unchanged: `sharing_rules`, `sharing_rule_new`, `sharing_rule_delete`)."""
from django.urls import path

from . import sharing_rule_views as views

urlpatterns = [
    path("settings/sharing/rules/", views.SharingRuleListView.as_view(), name="sharing_rules"),
    path("settings/sharing/rules/new/", views.SharingRuleCreateView.as_view(), name="sharing_rule_new"),
    path("settings/sharing/rules/<int:rule_pk>/delete/", views.SharingRuleDeleteView.as_view(),
         name="sharing_rule_delete"),
]
