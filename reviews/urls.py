from django.urls import path

from . import views

app_name = "reviews"
settings = "settings/automation/m/<slug:module>/reviews"
urlpatterns = [
    path("reviews/", views.QueueView.as_view(), name="queue"),
    path("reviews/m/<slug:module>/<int:pk>/", views.RecordReviewView.as_view(), name="record"),
    path("reviews/m/<slug:module>/<int:pk>/verdict/", views.VerdictView.as_view(), name="verdict"),
    path(f"{settings}/", views.ProcessListView.as_view(), name="processes"),
    path(f"{settings}/edit/", views.ProcessFormView.as_view(), name="process_form"),
    path(f"{settings}/active/", views.ProcessActiveView.as_view(), name="process_active"),
    path(f"{settings}/delete/", views.ProcessDeleteView.as_view(), name="process_delete"),
]
