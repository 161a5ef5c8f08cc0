from django.urls import path

from . import views

app_name = "work"
urlpatterns = [
    path("my-work/", views.WorkView.as_view(), name="index"),
    path("my-work/count/", views.WorkCountView.as_view(), name="count"),
]
