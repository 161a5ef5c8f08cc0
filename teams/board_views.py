"""Team extras of the kanban board and chart (which live in `crm.board_views`): a manager assigns
an unassigned record of a team module to a member of the space, in one click from the chart."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from crm import actions as crm_actions
from crm.board_views import AssignOffer, BoardView

from . import actions as team_actions
from .models import TeamMember


def chart_assign_offer(request: HttpRequest, schema: Any) -> AssignOffer | None:
    """Team modules assign to the space's members (registered in ready()); which records the user
    may assign is asked of the decision point (the team guard keeps assigning for managers)."""
    team_module = getattr(schema, "team_module", None)
    if team_module is None:
        return None
    members = [m.user for m in TeamMember.objects.filter(org=request.org, space_id=team_module.space_id)
               .select_related("user").order_by("user__first_name", "user__username")]
    return AssignOffer(members=members,
                       url=lambda record: reverse("teams:chart_assign", args=[schema.key, record.pk]))


class ChartAssignView(BoardView):
    """One-click assignment from the chart's unassigned panel (team modules; managers)."""

    def post(self, request: HttpRequest, module: str, pk: int):
        team_module = getattr(self.schema, "team_module", None)
        if team_module is None:
            raise Http404
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            target = reverse("crm:chart", args=[self.module.key])
        try:
            assignee_id = int(request.POST.get("assignee", ""))
        except ValueError:
            assignee_id = None
        member = (TeamMember.objects.filter(org=request.org, space_id=team_module.space_id, user_id=assignee_id)
                  .select_related("user").first() if assignee_id else None)
        if member is None:
            messages.error(request, _("Choose a member of this team."))
            return HttpResponseRedirect(target)
        raw_version = request.POST.get("version", "")
        version = int(raw_version) if raw_version.isdigit() else None
        try:
            team_actions.do_assign(self.record, member.user_id, actor=request.user, path="page", version=version)
        except (PermissionDenied, crm_actions.ConflictError, crm_actions.RecordValidationError) as exc:
            messages.error(request, _reason(exc))
            return HttpResponseRedirect(target)
        messages.success(request, _("“%(record)s” is now assigned to %(user)s.")
                         % {"record": self.record, "user": member.user})
        return HttpResponseRedirect(target)


def _reason(exc: Exception) -> str:
    if isinstance(exc, crm_actions.RecordValidationError):
        return " ".join(m for ms in exc.message_dict.values() for m in ms)
    return str(exc) or _("You may not do this.")


board_urlpatterns = [
    path("m/<slug:module>/chart/assign/<int:pk>/", ChartAssignView.as_view(), name="chart_assign"),
]
