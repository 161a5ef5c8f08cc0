from django.urls import path

from . import views

app_name = "dedupe"
urlpatterns = [
    path("m/<slug:module>/duplicates/", views.FindView.as_view(), name="find"),
    path("m/<slug:module>/merge/", views.MergeView.as_view(), name="merge"),
]
