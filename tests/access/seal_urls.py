from django.urls import path

from config.urls import urlpatterns as app_urlpatterns

from .seal_probe import probe_view

urlpatterns = [path("seal-probe/", probe_view), *app_urlpatterns]
