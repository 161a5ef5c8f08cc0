"""The notifications page, the bell's count and marking as read: only the user's own
notifications of their current org (any other id is a 404)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from .actions import do_mark_read, do_set_notification_preferences
from .messages import path as record_path
from .messages import render as render_text
from .models import Channel, Notification
from .preferences import PreferencesForm, preferences_of

PAGE_SIZE = 25
COUNT_CAP = 99  # the bell shows "99+" above this


def inbox(user):
    """The user's in-app notifications in their current org (e-mail-only ones are not shown)."""
    return Notification.objects.filter(org=user.org, recipient=user, in_app=True)


class NotificationListView(LoginRequiredMixin, View):
    def get(self, request):
        rows = inbox(request.user).select_related("actor").order_by("-created_at", "-pk")
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        items = [{"pk": n.pk, "text": render_text(n), "unread": n.read_at is None, "created_at": n.created_at,
                  "url": record_path(n)} for n in page.object_list]
        return render(request, "automation/notifications.html", {"page": page, "items": items})


class BellView(LoginRequiredMixin, View):
    """The unread count, bounded: one COUNT over at most COUNT_CAP + 1 rows."""

    def get(self, request):
        count = inbox(request.user).filter(read_at__isnull=True)[:COUNT_CAP + 1].count()
        label = f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)
        return render(request, "automation/bell.html", {"count": count, "label": label})


class MarkReadView(LoginRequiredMixin, View):
    def post(self, request):
        if request.POST.get("all"):
            do_mark_read(request.user, "all")
        else:
            try:
                pk = int(request.POST.get("id", ""))
            except ValueError:
                raise Http404
            if not inbox(request.user).filter(pk=pk).exists():
                raise Http404
            do_mark_read(request.user, [pk])
        page = request.POST.get("page", "")
        url = reverse("automation:notifications")
        return redirect(f"{url}?page={page}" if page.isdigit() else url)


class PreferencesView(LoginRequiredMixin, View):
    """The user's own notification preferences in their current org: there is no way to name
    another user here."""

    template = "automation/notification_preferences.html"

    def get(self, request):
        form = PreferencesForm(initial=preferences_of(request.user))
        return render(request, self.template, self._context(form))

    def post(self, request):
        form = PreferencesForm(request.POST, initial=preferences_of(request.user))
        if form.is_valid():
            try:
                do_set_notification_preferences(request.user, form.cleaned_data, actor=request.user)
            except ValidationError as exc:
                for kind, errors in exc.message_dict.items():
                    form.add_error(kind if kind in form.fields else None, errors)
            else:
                messages.success(request, _("Your notification preferences are saved."))
                return redirect("automation:preferences")
        return render(request, self.template, self._context(form), status=400)

    @staticmethod
    def _context(form) -> dict:
        rows = [{"field": form[name], "choices": list(form[name])} for name in form.fields]
        return {"form": form, "rows": rows, "channels": Channel.choices}
