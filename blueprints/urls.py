from django.urls import path

from . import views

app_name = "blueprints"
BP = "settings/blueprints/<int:blueprint_pk>"
urlpatterns = [
    path("settings/blueprints/m/<slug:module>/", views.BlueprintListView.as_view(), name="list"),
    path(f"{BP}/", views.EditorView.as_view(), name="editor"),
    path(f"{BP}/settings/", views.SaveSettingsView.as_view(), name="settings"),
    path(f"{BP}/transitions/new/", views.SaveTransitionView.as_view(), name="transition_new"),
    path(f"{BP}/transitions/<int:transition_pk>/", views.SaveTransitionView.as_view(), name="transition_save"),
    path(f"{BP}/transitions/<int:transition_pk>/delete/", views.DeleteTransitionView.as_view(),
         name="transition_delete"),
    path(f"{BP}/publish/", views.LifecycleView.as_view(step="publish"), name="publish"),
    path(f"{BP}/deactivate/", views.LifecycleView.as_view(step="deactivate"), name="deactivate"),
    path(f"{BP}/new-version/", views.LifecycleView.as_view(step="new_version"), name="new_version"),
    path(f"{BP}/delete/", views.LifecycleView.as_view(step="delete"), name="delete"),
    path(f"{BP}/migrate/", views.LifecycleView.as_view(step="migrate"), name="migrate"),
    path(f"{BP}/log/", views.RunLogView.as_view(), name="log"),
    # A record's blueprint: its state, transitions and diagram; with ?transition=<id>, that transition's form.
    path("m/<slug:module>/<int:pk>/blueprint/", views.PerformView.as_view(), name="transition"),
]
