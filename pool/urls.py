from django.urls import path

from . import dashboard, recycle_views, settings_views, views

app_name = "pool"
urlpatterns = [
    path("pools/", views.PoolIndexView.as_view(), name="index"),
    path("pools/<int:pool_pk>/", views.PoolListView.as_view(), name="list"),
    path("pools/claim/", views.ClaimView.as_view(), name="claim"),
    path("pools/assign/", views.AssignView.as_view(), name="assign"),
    path("pools/release/", views.ReleaseView.as_view(), name="release"),
    path("settings/pools/", settings_views.PoolSettingsView.as_view(), name="settings"),
    path("settings/pools/new/", settings_views.PoolFormView.as_view(), name="new"),
    path("settings/pools/<int:pool_pk>/", settings_views.PoolFormView.as_view(), name="edit"),
    path("settings/pools/<int:pool_pk>/delete/", settings_views.PoolDeleteView.as_view(), name="delete"),
    path("pools/<int:pool_pk>/dashboard/", dashboard.DashboardView.as_view(), name="dashboard"),
    path("pools/protect/", recycle_views.ProtectView.as_view(), name="protect"),
    path("pools/<int:pool_pk>/recycle/", recycle_views.RunNowView.as_view(), name="recycle_now"),
    path("settings/pools/<int:pool_pk>/recycling/", recycle_views.RecycleSettingsView.as_view(),
         name="recycle_settings"),
]
