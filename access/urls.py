from allauth.account import views as allauth_views
from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    # Accounts (django-allauth): the app's own addresses and names for the pages other templates
    # link to; allauth's others are under accounts/ (config/urls.py).
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", allauth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.SignUpView.as_view(), name="signup"),
    path("account/", views.AccountView.as_view(), name="account"),
    path("account/password/", views.ChangePasswordView.as_view(), name="password_change"),
    # allauth's own addresses of the same pages lead to the app's.
    path("accounts/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("accounts/signup/", RedirectView.as_view(pattern_name="signup", query_string=True)),
    path("accounts/password/change/", RedirectView.as_view(pattern_name="password_change", query_string=True)),
    path("org/switch/", views.SwitchOrgView.as_view(), name="switch_org"),
    path("language/", views.LanguageView.as_view(), name="set_language"),
    path("settings/users/", views.UsersView.as_view(), name="users"),
    path("settings/users/<int:membership_pk>/password/", views.UserPasswordView.as_view(), name="user_password"),
    path("settings/users/lockouts/", views.LockoutsView.as_view(), name="lockouts"),
    path("settings/security/", views.SecuritySettingsView.as_view(), name="security_settings"),
]
