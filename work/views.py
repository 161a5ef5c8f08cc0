"""My Work, the home page: the sections other apps register (crm.work), in their order, and the
navigation bar's count, fetched by htmx so other pages pay no query for it."""
from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.shortcuts import render
from django.views import View

from crm.work import work_count, work_sections

COUNT_CAP = 99  # the badge reads "99+" above this


class OrgView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and getattr(request, "org", None) is None:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class WorkView(OrgView):
    def get(self, request):
        return render(request, "work/index.html", {"sections": work_sections(request.user)})


class WorkCountView(OrgView):
    """The badge beside "My Work" in the navigation bar."""

    def get(self, request):
        count = work_count(request.user)
        label = f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)
        return render(request, "work/count.html", {"count": count, "label": label})
