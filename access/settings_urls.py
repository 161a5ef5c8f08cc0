"""Sharing settings pages (org administrators), included at the project root."""
from django.urls import path

from . import audit_views
from . import settings_views as views

urlpatterns = [
    path("settings/sharing/profiles/", views.ProfileListView.as_view(), name="sharing_profiles"),
    path("settings/sharing/profiles/<int:profile_pk>/", views.ProfileView.as_view(), name="sharing_profile"),
    path("settings/sharing/profiles/<int:profile_pk>/fields/", views.ProfileFieldsView.as_view(),
         name="sharing_profile_fields"),
    path("settings/sharing/profiles/<int:profile_pk>/clone/", views.ProfileCloneView.as_view(),
         name="sharing_profile_clone"),
    path("settings/sharing/profiles/<int:profile_pk>/delete/", views.ProfileDeleteView.as_view(),
         name="sharing_profile_delete"),
    path("settings/sharing/members/", views.MemberAccessView.as_view(), name="sharing_members"),
    path("settings/sharing/roles/", views.RoleTreeView.as_view(), name="sharing_roles"),
    path("settings/sharing/roles/<int:role_pk>/", views.RoleView.as_view(), name="sharing_role"),
    path("settings/sharing/roles/<int:role_pk>/delete/", views.RoleDeleteView.as_view(), name="sharing_role_delete"),
    path("settings/sharing/groups/", views.GroupListView.as_view(), name="sharing_groups"),
    path("settings/sharing/groups/<int:group_pk>/", views.GroupView.as_view(), name="sharing_group"),
    path("settings/sharing/groups/<int:group_pk>/delete/", views.GroupDeleteView.as_view(),
         name="sharing_group_delete"),
    # The sharing-rule pages (criteria against module schemas) are in crm.sharing_rule_urls.
    path("settings/sharing/access-log/", views.AccessLogView.as_view(), name="sharing_access_log"),
    path("settings/audit-log/", audit_views.AuditLogView.as_view(), name="audit_log"),
    path("settings/audit-log/export/", audit_views.AuditLogExportView.as_view(), name="audit_log_export"),
]
