from django.urls import path

from . import settings_views

urlpatterns = [
    path("settings/automation/", settings_views.IndexView.as_view(), name="settings"),
    path("settings/automation/failures/", settings_views.FailuresView.as_view(), name="failures"),
]
