from django.urls import path

from . import settings_views, views

app_name = "approvals"
urlpatterns = [
    path("approvals/awaiting/", views.AwaitingView.as_view(), name="awaiting"),
    path("approvals/requests/<int:approval_request_pk>/", views.RequestDetailView.as_view(), name="request"),
    path("approvals/requests/<int:approval_request_pk>/decide/", views.DecideView.as_view(), name="decide"),
    path("approvals/requests/<int:approval_request_pk>/delegate/", views.DelegateView.as_view(), name="delegate"),
    path("approvals/requests/<int:approval_request_pk>/recall/", views.RecallView.as_view(), name="recall"),
    path("m/<slug:module>/<int:pk>/submit-for-approval/", views.SubmitView.as_view(), name="submit"),
    path("settings/approvals/m/<slug:module>/", settings_views.ProcessListView.as_view(), name="processes"),
    path("settings/approvals/m/<slug:module>/new/", settings_views.ProcessFormView.as_view(), name="process_new"),
    path("settings/approvals/processes/<int:approval_process_pk>/", settings_views.ProcessFormView.as_view(),
         name="process_edit"),
    path("settings/approvals/processes/<int:approval_process_pk>/delete/",
         settings_views.ProcessDeleteView.as_view(), name="process_delete"),
]
