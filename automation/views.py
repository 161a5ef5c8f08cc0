"""The notifications page, the bell's count and marking as read: only the user's own
notifications of their current org (any other id is a 404)."""
from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from .actions import do_mark_read
from .messages import path as record_path
from .messages import render as render_text
from .models import Notification

PAGE_SIZE = 25
COUNT_CAP = 99  # the bell shows "99+" above this


def inbox(user):
    return Notification.objects.filter(org=user.org, recipient=user)


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
