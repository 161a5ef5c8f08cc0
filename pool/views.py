"""The pool pages of members: the pools they belong to, a pool's waiting records (masked,
with claim buttons) and the moves posted from there and from a record's page."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from access.decisions import decide_many, decide_module
from access.visibility import visible
from config.params import optional_id
from crm import selectors as crm_selectors
from crm.modules import get_module

from . import actions
from .models import Pool, PoolState
from .rules import POOL_MODULES
from .selectors import is_pool_admin, pool_page, pools_for

PAGE_SIZE = 50


class PoolView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class PoolIndexView(PoolView):
    def get(self, request):
        pools = pools_for(request.user)
        if len(pools) == 1:
            return HttpResponseRedirect(reverse("pool:list", args=[pools[0].pk]))
        return render(request, "pool/index.html", {"pools": pools})


def parse_after(text: str) -> tuple[dt.datetime, int] | None:
    """The keyset cursor "<entered_at as microseconds>_<record id>"; anything else is page one."""
    stamp, _sep, record = (text or "").partition("_")
    if not (stamp.isdigit() and record.isdigit()) or len(stamp) > 20 or len(record) > 19:
        return None
    try:
        return dt.datetime.fromtimestamp(int(stamp) / 1_000_000, tz=dt.timezone.utc), int(record)
    except (OverflowError, OSError, ValueError):
        return None


def cursor(state: PoolState) -> str:
    stamp = state.entered_at - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    micros = (stamp.days * 86_400 + stamp.seconds) * 1_000_000 + stamp.microseconds
    return f"{micros}_{state.record_id}"


class PoolListView(PoolView):
    """A pool's waiting records, newest entries first, a keyset page at a time; the records are
    read through `access.visible` (so masked), the claim buttons are the decision point's."""

    def dispatch(self, request, *args, **kwargs):
        # The pool first, whatever the method: one the user may not open is a 404.
        if request.user.is_authenticated and getattr(request, "org", None) is not None:
            self.pool = next((p for p in pools_for(request.user) if p.pk == kwargs["pool_pk"]), None)
            if self.pool is None:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, pool_pk):
        pool = self.pool
        schema = get_module(pool.module, request.org).bind(request.org)
        if not decide_module(request.user, schema, "open").allowed:
            raise Http404
        after = parse_after(request.GET.get("after", ""))
        states = pool_page(pool, after, PAGE_SIZE)
        more = len(states) > PAGE_SIZE
        states = states[:PAGE_SIZE]
        found = {r.pk: r for r in visible(request.user, schema, "view").filter(pk__in=[s.record_id for s in states])}
        rows = [(state, found[state.record_id]) for state in states if state.record_id in found]
        claims = decide_many(request.user, [record for _s, record in rows], "claim", schema=schema)
        shown = {spec.key for spec in schema.fields_for(request.user)}
        # The list's columns and the pool's masked fields (so members see what they would get).
        columns = [spec for spec in schema.fields if spec.key in shown and spec.key != "owner"
                   and (spec.in_list or spec.key in pool.masked_fields)]
        title = schema.field(schema.title_field)
        from .door import possible_duplicates  # records let in although they looked like others

        duplicates = possible_duplicates(request.user, schema, [record for _s, record in rows])
        table = [{"state": state, "record": record, "claim": claims[record.pk],
                  "duplicates": duplicates.get(record.pk, ()),
                  "title": title.display(record) or _("(no name)"),
                  "cells": [spec.display(record) for spec in columns if spec.key != title.key]}
                 for state, record in rows]
        total = crm_selectors.bounded_count(PoolState.objects.filter(org=request.org, pool=pool, in_pool=True))
        return render(request, "pool/list.html", {
            "pool": pool, "schema": schema, "rows": table, "title_label": title.label,
            "columns": [spec for spec in columns if spec.key != title.key],
            "next_after": cursor(states[-1]) if more and states else "", "paged": after is not None,
            "count_label": crm_selectors.count_label(total), "pool_admin": is_pool_admin(request.user, pool),
            "pools": pools_for(request.user)})


class MoveView(PoolView):
    """A claim, assignment or release posted from the pool list or a record's page: all or
    nothing, and any refusal (a limit, a race lost, a bad id) said in a message."""

    def next_url(self, fallback: str) -> str:
        wanted = getattr(self, "redirect_to", "") or self.request.POST.get("next") or ""
        if wanted and url_has_allowed_host_and_scheme(wanted, {self.request.get_host()}, self.request.is_secure()):
            return wanted
        return fallback

    def post(self, request):
        key = request.POST.get("module", "")
        if key not in POOL_MODULES:
            messages.error(request, _("Pools hold leads or accounts."))
            return HttpResponseRedirect(self.next_url(reverse("pool:index")))
        schema = get_module(key, request.org).bind(request.org)
        opened = decide_module(request.user, schema, "open")
        if not opened.allowed:
            messages.error(request, opened.reason)
            return HttpResponseRedirect(self.next_url(reverse("pool:index")))
        ids = request.POST.getlist("ids")
        try:
            text = self.move(request, schema, ids)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc.args[0]) if exc.args else _("You may not do this."))
        else:
            messages.success(request, text)
        return HttpResponseRedirect(self.next_url(reverse("pool:index")))


class ClaimView(MoveView):
    def move(self, request, schema, ids) -> str:
        rows = actions.do_claim_records(schema, ids, actor=request.user)
        return ngettext("%(count)d record claimed: it is yours now.", "%(count)d records claimed: they are yours now.",
                        len(rows)) % {"count": len(rows)}


class AssignView(MoveView):
    def move(self, request, schema, ids) -> str:
        user = optional_id(request.POST.get("user"))
        rows = actions.do_assign_records(schema, ids, user, actor=request.user, reason=request.POST.get("reason", ""),
                                         override=bool(request.POST.get("override")))
        return ngettext("%(count)d record assigned.", "%(count)d records assigned.", len(rows)) % {"count": len(rows)}


class ReleaseView(MoveView):
    def move(self, request, schema, ids) -> str:
        rows = actions.do_release_records(schema, ids, request.POST.get("pool"), actor=request.user,
                                          reason=request.POST.get("reason", ""))
        merged = [row for row in rows if getattr(row, "merged_into", None) is not None]
        text = ngettext("%(count)d record released to the pool.", "%(count)d records released to the pool.",
                        len(rows) - len(merged)) % {"count": len(rows) - len(merged)}
        if merged:  # the pool merges duplicates at the door: the merged record is in the recycle bin
            text += " " + _("Merged into the record it duplicates, waiting in the pool: %(records)s.") % {
                "records": ", ".join(f"#{row.merged_into.pk} {row.merged_into}" for row in merged)}
            gone = {reverse("crm:detail", args=[schema.key, row.pk]) for row in merged}
            if (request.POST.get("next") or "").split("?")[0] in gone:
                self.redirect_to = reverse("crm:detail", args=[schema.key, merged[0].merged_into.pk])
        return text
