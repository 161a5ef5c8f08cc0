from django.urls import path

from . import views

app_name = "imports"
urlpatterns = [
    path("m/<slug:module>/import/", views.HistoryView.as_view(), name="start"),
    path("imports/<int:import_pk>/", views.JobView.as_view(), name="job"),
    path("imports/<int:import_pk>/mapping/", views.MappingView.as_view(), name="mapping"),
    path("imports/<int:import_pk>/confirm/", views.ConfirmView.as_view(), name="confirm"),
    path("imports/<int:import_pk>/errors.csv", views.ErrorFileView.as_view(), name="errors"),
    path("imports/<int:import_pk>/undo/", views.UndoView.as_view(), name="undo"),
]
