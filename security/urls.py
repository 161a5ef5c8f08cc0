from django.urls import path

from . import views

app_name = "security"

urlpatterns = [
    path("account/security/", views.AccountSecurityView.as_view(), name="account"),
    path("settings/users/<int:membership_pk>/security/", views.MemberSecurityView.as_view(), name="member"),
    path("settings/users/<int:membership_pk>/sign-out/", views.MemberSignOutView.as_view(), name="sign_out"),
    path("settings/security-log/", views.SecurityLogView.as_view(), name="log"),
]
