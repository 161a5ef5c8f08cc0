"""Routes for record sharing; included inside the `crm` namespace.

Every route names at most a module and a record (the share to revoke travels in the POST
body), so the records are resolved through `access` in `ModuleView.dispatch`.
"""
from django.urls import path

from . import sharing_views

urlpatterns = [
    path("m/<slug:module>/<int:pk>/shares/", sharing_views.ShareRecordView.as_view(), name="share_add"),
    path("m/<slug:module>/<int:pk>/shares/revoke/", sharing_views.RevokeShareView.as_view(), name="share_revoke"),
    path("m/<slug:module>/<int:pk>/access/", sharing_views.WhyAccessView.as_view(), name="share_why"),
]
