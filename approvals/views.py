"""Approval pages: decide a step (approve / reject with a comment), delegate it, recall a
request, submit a record, a request's history, and the full list awaiting the user.

Pages offer what the decision point (`access.decide`, actions "approve" and "recall") allows;
every POST runs the action, which asks it again on the locked request; a refusal comes back as a
message naming its reason, never a 500. Requests are looked up by org and id: another org's is a
404."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View

from access.visibility import can, current_membership, get_record, visible
from config.params import optional_id
from crm.actions import bound_schema
from crm.modules import get_module

from . import actions, engine, ui
from .models import ApprovalRequest
from .work import _awaiting, with_decisions


def _errors(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(" ".join(m) for m in exc.message_dict.values())
        return " ".join(exc.messages)
    return str(exc)


class MemberView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None or current_membership(request.user) is None:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class RequestView(MemberView):
    """Base of the views of one request: `self.approval`, looked up by org and id, and shown
    only to whoever submitted it, took a step of it, or may open its record (its current
    approvers and its process admins may, while it awaits them)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        org = getattr(request, "org", None)
        if org is None:
            raise Http404
        pk = optional_id(kwargs["approval_request_pk"])
        self.approval = pk and (ApprovalRequest.objects.select_related("process", "submitter")
                                .filter(org=org, pk=pk).first())
        if not self.approval or not self.concerns(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def concerns(self, user: Any) -> bool:
        request = self.approval
        if current_membership(user) is None:
            return False
        if request.submitter_id == user.pk or user.pk in {s.actor_id for s in request.steps.all()}:
            return True
        try:
            return can(user, get_module(request.module, request.org), request.record_id, "view")
        except Http404:
            return False

    def next_url(self) -> str:
        wanted = self.request.POST.get("next") or ""
        if (wanted.startswith("/") and
                url_has_allowed_host_and_scheme(wanted, {self.request.get_host()}, self.request.is_secure())):
            return wanted
        return reverse("approvals:request", args=[self.approval.pk])

    def done(self, ok: bool, text: str):
        if self.request.headers.get("HX-Request"):
            css = "success" if ok else "danger"
            return HttpResponse(f'<div class="alert alert-{css} py-1 px-2 small mb-0" role="status" '
                                f'data-testid="approval-result">{_escape(text)}</div>', status=200 if ok else 422)
        (messages.success if ok else messages.error)(self.request, text)
        return HttpResponseRedirect(self.next_url())


def _escape(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


class RequestDetailView(RequestView):
    def get(self, request, approval_request_pk):
        approval = self.approval
        record, decisions = None, {}
        try:
            schema = bound_schema(get_module(approval.module, request.org), request.org)
            record = visible(request.user, schema, "view", listing=False).filter(pk=approval.record_id).first()
        except Http404:
            schema = None
        if record is not None and approval.awaiting:  # then it is the record's awaiting request
            record.__dict__[engine.PENDING_ATTR] = approval
            decisions = ui.request_decisions(request.user, schema, record, approval)
        steps = list(approval.steps.select_related("actor", "delegated_to"))
        return render(request, "approvals/request_detail.html", {
            "approval": approval, "steps": steps, "record": record, "module": schema, "panel": decisions,
            "message": engine.pending_message(approval) if approval.awaiting else ""})


class DecideView(RequestView):
    def post(self, request, approval_request_pk):
        decision = request.POST.get("decision", "")
        try:
            result = actions.do_decide_approval(self.approval, decision, comment=request.POST.get("comment", ""),
                                                actor=request.user)
        except (PermissionDenied, ValidationError) as exc:
            return self.done(False, _errors(exc))
        if decision == "reject":
            return self.done(True, _("Rejected."))
        if result.status == ApprovalRequest.Status.APPROVED:
            return self.done(True, _("Approved: the approval is complete."))
        return self.done(True, _("Approved."))


class DelegateView(RequestView):
    def post(self, request, approval_request_pk):
        try:
            actions.do_delegate_approval(self.approval, request.POST.get("delegate_to"), actor=request.user,
                                         comment=request.POST.get("comment", ""))
        except (PermissionDenied, ValidationError) as exc:
            return self.done(False, _errors(exc))
        return self.done(True, _("Delegated."))


class RecallView(RequestView):
    def post(self, request, approval_request_pk):
        try:
            actions.do_recall_approval(self.approval, actor=request.user, comment=request.POST.get("comment", ""))
        except (PermissionDenied, ValidationError) as exc:
            return self.done(False, _errors(exc))
        return self.done(True, _("Recalled: the record is no longer awaiting approval."))


class SubmitView(MemberView):
    """The record is looked up (through access) before the method is: 404, never 405, for a
    record that is not the user's."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and getattr(request, "org", None) is not None:
            self.schema = bound_schema(get_module(kwargs["module"], request.org), request.org)
            self.record = get_record(request.user, self.schema, kwargs["pk"], "view")
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, module, pk):
        schema, record = self.schema, self.record
        back = reverse("crm:detail", args=[schema.key, record.pk])
        process = request.POST.get("process") or None
        try:
            actions.do_submit_for_approval(record, actor=request.user, process=process, schema=schema)
        except (PermissionDenied, ValidationError) as exc:
            messages.error(request, _errors(exc))
            return redirect(back)
        messages.success(request, _("Submitted for approval."))
        return redirect(back)


class AwaitingView(MemberView):
    def get(self, request):
        page = Paginator(_awaiting(request.user), 50).get_page(request.GET.get("page"))
        items = with_decisions(request.user, list(page.object_list))
        return render(request, "approvals/awaiting.html", {"page": page, "section": {"items": items}})
