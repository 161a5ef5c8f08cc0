from django.urls import include, path

from . import assignment_urls, settings_urls, views, wfaction_urls, workflow_urls

app_name = "automation"
urlpatterns = [
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path("notifications/bell/", views.BellView.as_view(), name="bell"),
    path("notifications/read/", views.MarkReadView.as_view(), name="mark_read"),
    path("notifications/preferences/", views.PreferencesView.as_view(), name="preferences"),
    *settings_urls.urlpatterns,
    *assignment_urls.urlpatterns,
    *wfaction_urls.urlpatterns,
    *workflow_urls.urlpatterns,
    path("", include("automation.rule_urls")),
]
