"""Security pages: a person's own login history and sessions (user menu), an administrator's view
of a member's (Settings > Users), "Sign out everywhere", and the org's security log (Settings >
Security log). Administrator pages answer anyone else with a 404, like every settings page."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from access.models import Membership
from access.settings_views import AdminView
from access.visibility import is_org_admin
from config.params import parse_id

from . import actions, selectors
from .forms import HistoryPageForm, SecurityLogFilterForm


def _history(request: HttpRequest, user: Any) -> tuple[dict[str, Any], int]:
    form = HistoryPageForm(request.GET)
    before = form.cleaned_data["before"] if form.is_valid() else None
    rows, older = selectors.login_history(user, before=before)
    context = {"history": rows, "older": older, "is_first_page": before is None, "page_errors": form.errors}
    return context, 200 if form.is_valid() else 400


class AccountSecurityView(LoginRequiredMixin, View):
    """GET /account/security/: where I am signed in, and my login history. POST ends one of my
    other sessions (session=<id>) or all of them (op=end_others)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        context, status = _history(request, request.user)
        context["sessions"] = selectors.active_sessions(request.user, request.session.session_key)
        return render(request, "security/account.html", context, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("op") == "end_others":
            ended = actions.do_end_own_sessions(request.user, request=request)
            messages.success(request, _("Other sessions ended: %(count)s.") % {"count": ended})
            return redirect("security:account")
        session_id = parse_id(request.POST.get("session"), "session")
        try:
            actions.do_end_own_sessions(request.user, request=request, session_id=session_id)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The session has ended."))
        return redirect("security:account")


class MemberView(AdminView):
    """A member of the administrator's own org, named in the URL: another org's membership, or one
    that does not exist, is a 404 whatever the method (never looked up by id alone)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and is_org_admin(request.user):
            self.member = Membership.objects.select_related("user").filter(
                org=request.org, pk=kwargs["membership_pk"]).first()
            if self.member is None:
                raise Http404
        return super().dispatch(request, *args, **kwargs)


class MemberSecurityView(MemberView):
    """GET /settings/users/<membership>/security/: a member's sessions and login history."""

    def get(self, request: HttpRequest, membership_pk: int) -> HttpResponse:
        membership = self.member
        context, status = _history(request, membership.user)
        own = membership.user_id == request.user.pk
        context["member"] = membership
        context["sessions"] = selectors.active_sessions(membership.user, request.session.session_key if own else None)
        return render(request, "security/member.html", context, status=status)


class MemberSignOutView(MemberView):
    """POST /settings/users/<membership>/sign-out/: end every session of the member."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, membership_pk: int) -> HttpResponse:
        membership = self.member
        ended = actions.do_sign_out_everywhere(membership, actor=request.user, request=request)
        messages.success(request, _("%(user)s is signed out everywhere (sessions ended: %(count)s).")
                         % {"user": membership.user, "count": ended})
        return redirect("security:member", membership_pk=membership.pk)


class SecurityLogView(AdminView):
    """GET /settings/security-log/?kind=&user=&before=: newest first, a page at a time."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = SecurityLogFilterForm(request.GET or None, org=request.org)
        entries, older, before = [], "", None
        if not form.is_bound or form.is_valid():
            data = form.cleaned_data if form.is_bound else {}
            before = data.get("before")
            entries, older = selectors.security_log(request.org, kind=data.get("kind") or "", user=data.get("user"),
                                                    before=before)
        query = request.GET.copy()
        query.pop("before", None)
        return render(request, "security/log.html", {
            "form": form, "entries": entries, "older": older, "is_first_page": before is None,
            "query": query.urlencode()}, status=400 if form.is_bound and not form.is_valid() else 200)
