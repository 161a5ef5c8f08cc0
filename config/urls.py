from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("ops/admin/", admin.site.urls),
    path("", include("access.urls")),
    path("accounts/", include("allauth.urls")),  # django-allauth: e-mail, password reset, two-factor
    path("", include("access.settings_urls")),
    path("", include("crm.sharing_rule_urls")),
    path("", include("crm.urls")),
    path("", include("teams.urls")),
    path("", include("locking.urls")),
    path("", include("automation.urls")),
    path("", include("reviews.urls")),
    path("", include("blueprints.urls")),
    path("", include("approvals.urls")),
    path("", include("imports.urls")),
    path("", include("work.urls")),
    path("", include("exports.urls")),
    path("", include("dedupe.urls")),
    path("", include("pool.urls")),
    path("", include("security.urls")),
]

handler500 = "config.faults.server_error"
