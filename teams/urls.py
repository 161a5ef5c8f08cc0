from django.urls import path

from . import views
from .board_views import board_urlpatterns
from .dashboard_views import dashboard_urlpatterns

app_name = "teams"
urlpatterns = [
    path("teams/", views.SpaceListView.as_view(), name="spaces"),
    path("teams/<int:space_pk>/", views.SpaceView.as_view(), name="space"),
    path("teams/<int:space_pk>/members/", views.MembersView.as_view(), name="members"),
    path("teams/<int:space_pk>/modules/new/", views.ModuleSettingsView.as_view(), name="module_new"),
    path("teams/modules/<int:module_pk>/", views.ModuleSettingsView.as_view(), name="module_settings"),
    path("teams/modules/<int:module_pk>/fields/", views.FieldsView.as_view(), name="fields"),
    path("teams/modules/<int:module_pk>/fields/new/", views.FieldFormView.as_view(), name="field_new"),
    path("teams/modules/<int:module_pk>/fields/<int:pk>/", views.FieldFormView.as_view(), name="field_edit"),
    path("teams/modules/<int:module_pk>/requesters/", views.RequestersView.as_view(), name="requesters"),
    path("requests/", views.RequestsView.as_view(), name="requests"),
    path("requests/<int:module_pk>/new/", views.RequestFormView.as_view(), name="request_new"),
    path("requests/<int:module_pk>/<int:pk>/edit/", views.RequestFormView.as_view(), name="request_edit"),
] + board_urlpatterns + dashboard_urlpatterns
