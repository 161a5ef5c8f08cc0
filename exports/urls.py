from django.urls import path

from . import views

app_name = "exports"
urlpatterns = [
    path("m/<slug:module>/export/", views.ExportView.as_view(), name="export"),
    path("exports/<int:export_pk>/", views.ExportJobView.as_view(), name="job"),
    path("exports/<int:export_pk>/download/", views.ExportDownloadView.as_view(), name="download"),
]
