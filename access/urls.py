from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="access/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.SignUpView.as_view(), name="signup"),
    path("org/switch/", views.SwitchOrgView.as_view(), name="switch_org"),
    path("language/", views.LanguageView.as_view(), name="set_language"),
    path("settings/users/", views.UsersView.as_view(), name="users"),
    path("settings/users/<int:membership_pk>/password/", views.UserPasswordView.as_view(), name="user_password"),
    path("settings/users/lockouts/", views.LockoutsView.as_view(), name="lockouts"),
    path("account/password/", views.ChangePasswordView.as_view(), name="password_change"),
]
