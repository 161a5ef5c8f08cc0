from __future__ import annotations

from allauth.account import views as allauth_views
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View

from config.params import parse_id

from . import actions, two_factor
from .forms import AddUserForm, SetPasswordForm, TwoFactorPolicyForm
from .settings_forms import apply_errors
from .lockouts import cooloff_minutes, current_lockouts
from .middleware import SESSION_ORG_KEY
from .models import Membership
from .visibility import is_org_admin


class LoginView(allauth_views.LoginView):
    """allauth's login, on the app's login page (access/login.html)."""
    template_name = "access/login.html"


class SignUpView(allauth_views.SignupView):
    """A new organisation and its first administrator (access.forms.SignUpForm); allauth e-mails the
    link that verifies the address, and the administrator logs in by opening it. Refused input is a
    400 with the form's errors."""
    template_name = "access/signup.html"

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except ValidationError as exc:  # the username or address was taken after the form checked it
            apply_errors(form, exc)
            return self.form_invalid(form)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response


class HomeView(LoginRequiredMixin, View):
    """After login: My Work (the `work` app's page, named by URL so access imports nothing above it)."""

    def get(self, request):
        return redirect("work:index")


class SwitchOrgView(LoginRequiredMixin, View):
    def post(self, request):
        try:
            membership = actions.do_switch_org(request.user, parse_id(request.POST.get("org"), "org"))
        except (PermissionDenied, ValueError):
            raise Http404
        request.session[SESSION_ORG_KEY] = membership.org_id
        return redirect("home")


class LanguageView(View):
    def post(self, request):
        language = request.POST.get("language", "en")
        if language not in ("en", "zh-hans"):
            language = "en"
        if request.user.is_authenticated:
            actions.do_set_language(request.user, language)
        next_url = request.POST.get("next") or "/"
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = "/"
        response = HttpResponseRedirect(next_url)  # a URL, never a view name (redirect() tries both)
        response.set_cookie("django_language", language, samesite="Lax")
        return response


class UsersView(LoginRequiredMixin, View):
    """Administrators add, deactivate and reactivate the org's users."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_org_admin(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, form=None):
        memberships = Membership.objects.filter(org=request.org).select_related("user").order_by("user__username")
        return render(request, "access/users.html", {"memberships": memberships, "form": form or AddUserForm(),
                                                     "roles": Membership.Role.choices})

    def post(self, request):
        op = request.POST.get("op", "add")
        if op == "add":
            form = AddUserForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    actions.do_add_user(request.org, username=data["username"], email=data["email"],
                                        password=data["password"], role=data["role"], first_name=data["first_name"],
                                        last_name=data["last_name"], department=data["department"],
                                        actor=request.user)
                    messages.success(request, _("User %(name)s added.") % {"name": data["username"]})
                    return redirect("users")
                except ValidationError as exc:
                    for key, errors in exc.message_dict.items():
                        for error in errors:
                            form.add_error(key if key in form.fields else None, error)
            response = self.get(request, form)
            response.status_code = 400
            return response
        membership = Membership.objects.filter(
            org=request.org, pk=parse_id(request.POST.get("membership"), "membership")).first()
        if membership is None:
            raise Http404
        try:
            if op in ("deactivate", "activate"):
                actions.do_set_membership_active(membership, op == "activate", actor=request.user)
                messages.success(request, _("User deactivated; their sessions have ended.") if op == "deactivate"
                                 else _("User reactivated."))
            elif op == "role":
                actions.do_set_membership_role(membership, request.POST.get("role", ""), actor=request.user)
                messages.success(request, _("Role changed."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("users")


class ChangePasswordView(allauth_views.PasswordChangeView):
    """A user changes their own password (from their account page, or because an administrator
    requires it). Their other sessions end; this one stays."""
    template_name = "access/password_change.html"
    success_url = reverse_lazy("home")

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "forced": self.request.user.must_change_password}


class AccountView(LoginRequiredMixin, View):
    """The user's own account: their address, password and two-factor authentication."""

    def get(self, request):
        return render(request, "access/account.html", two_factor.account_context(request))


class OrgAdminMixin(LoginRequiredMixin):
    """Org administrators only; anyone else is told the page does not exist."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_org_admin(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class UserPasswordView(OrgAdminMixin, View):
    """An administrator sets a new password for a user of their org."""

    def _membership(self, request, membership_pk):
        membership = Membership.objects.select_related("user").filter(org=request.org, pk=membership_pk).first()
        if membership is None:
            raise Http404
        return membership

    def get(self, request, membership_pk, form=None, status=200):
        membership = self._membership(request, membership_pk)
        return render(request, "access/user_password.html",
                      {"membership": membership, "form": form or SetPasswordForm()}, status=status)

    def post(self, request, membership_pk):
        membership = self._membership(request, membership_pk)
        form = SetPasswordForm(request.POST)
        if form.is_valid():
            try:
                actions.do_set_user_password(membership, form.cleaned_data["password"],
                                             must_change=form.cleaned_data["must_change"], actor=request.user)
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(key if key in form.fields else None, error)
            else:
                messages.success(request, _("Password of %(name)s set; their sessions have ended.")
                                 % {"name": membership.user.username})
                return redirect("users")
        return self.get(request, membership_pk, form=form, status=400)


class LockoutsView(OrgAdminMixin, View):
    """Failed-login lockouts in force of the org's users; an administrator can lift one."""

    def get(self, request):
        return render(request, "access/lockouts.html",
                      {"lockouts": current_lockouts(request.org), "cooloff_minutes": cooloff_minutes()})

    def post(self, request):
        try:
            actions.do_lift_lockout(request.org, parse_id(request.POST.get("attempt"), "attempt"), actor=request.user)
            messages.success(request, _("Lockout lifted: the user can log in again."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("lockouts")


class SecuritySettingsView(OrgAdminMixin, View):
    """The organisation's security settings: who must use two-factor authentication."""

    def get(self, request, form=None, status=200):
        form = form or TwoFactorPolicyForm(initial={"policy": request.org.two_factor_policy})
        return render(request, "access/settings_security.html", {"form": form}, status=status)

    def post(self, request):
        form = TwoFactorPolicyForm(request.POST)
        if form.is_valid():
            try:
                actions.do_set_two_factor_policy(request.org, form.cleaned_data["policy"], actor=request.user)
            except ValidationError as exc:
                apply_errors(form, exc, {"policy": "policy"})
            else:
                messages.success(request, _("Security settings saved."))
                return redirect("security_settings")
        return self.get(request, form=form, status=400)
