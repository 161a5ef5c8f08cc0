"""Recycling's pages: a pool's recycling settings (administrators), "run now" (the pool's
administrators), and protecting a customer (its owner, from the record page)."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.modules import get_module
from crm.settings_views import AdminView

from .models import Pool
from .recycle import RULE_KEYS
from .recycle_actions import do_protect_record, do_run_recycling_now, do_save_recycle_policy, policy_of
from .rules import POOL_MODULES
from .selectors import is_pool_member
from .views import MoveView, PoolView


def _levels(schema, key: str) -> list[tuple[str, str]]:
    if not key or not schema.has_field(key):
        return []
    spec = schema.field(key)
    return [(str(o.value), str(o.label)) for o in spec.options] if spec.type == "picklist" else []


class RecycleSettingsView(AdminView):
    def dispatch(self, request, *args, **kwargs):
        if getattr(request, "org", None) is not None:
            self.pool = Pool.objects.filter(org=request.org, pk=kwargs["pool_pk"]).first()
            if self.pool is None:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def page(self, values: dict, errors: dict, status: int = 200):
        schema = get_module(self.pool.module, self.request.org).bind(self.request.org)
        picklists = [(spec.key, spec.label) for spec in schema.fields if spec.type == "picklist"]
        levels = [("*", _("Any other level"))] + _levels(schema, values.get("level_field", ""))
        rules = values.get("rules") or {}
        grid = [{"value": value, "label": label,
                 "cells": [(k, f"{k}__{value}", (rules.get(value) or {}).get(k, "")) for k in RULE_KEYS]}
                for value, label in levels]
        return render(self.request, "pool/settings_recycle.html", {
            "pool": self.pool, "values": values, "errors": errors, "picklists": picklists, "grid": grid},
            status=status)

    def get(self, request, pool_pk):
        policy = policy_of(self.pool)
        return self.page({"enabled": policy.enabled, "level_field": policy.level_field, "rules": policy.rules,
                          "warn_days": policy.warn_days, "protect_quota": policy.protect_quota,
                          "open_deal_amount": policy.open_deal_amount if policy.open_deal_amount is not None else ""},
                         {})

    def post(self, request, pool_pk):
        data = request.POST
        rules: dict[str, dict[str, str]] = {}
        for name, value in data.items():
            key, _sep, level = name.partition("__")
            if key in RULE_KEYS and level and value.strip():
                rules.setdefault(level, {})[key] = value.strip()
        values = {"enabled": bool(data.get("enabled")), "level_field": data.get("level_field", ""), "rules": rules,
                  "warn_days": data.get("warn_days", ""), "protect_quota": data.get("protect_quota", ""),
                  "open_deal_amount": data.get("open_deal_amount", "")}
        try:
            do_save_recycle_policy(self.pool, actor=request.user, **values)
        except ValidationError as exc:
            return self.page(values, exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages},
                             status=400)
        messages.success(request, _("Recycling rules of “%(pool)s” saved.") % {"pool": self.pool.name})
        return HttpResponseRedirect(reverse("pool:recycle_settings", args=[self.pool.pk]))


class RunNowView(PoolView):
    def dispatch(self, request, *args, **kwargs):
        # The pool first, whatever the method: one the user may not open is a 404.
        if request.user.is_authenticated and getattr(request, "org", None) is not None:
            self.pool = Pool.objects.filter(org=request.org, pk=kwargs["pool_pk"]).first()
            if self.pool is None or not is_pool_member(request.user, self.pool):
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, pool_pk):
        pool = self.pool
        try:
            done = do_run_recycling_now(pool, actor=request.user)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Recycling done: %(recycled)d records returned to the pool, "
                                        "%(warned)d warnings sent.") % done)
        return HttpResponseRedirect(request.POST.get("next") or reverse("pool:dashboard", args=[pool.pk]))


class ProtectView(MoveView):
    def post(self, request):
        key = request.POST.get("module", "")
        if key not in POOL_MODULES:
            raise Http404
        schema = get_module(key, request.org).bind(request.org)
        protected = request.POST.get("protected") == "1"
        try:
            do_protect_record(schema, request.POST.get("id"), protected, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc.args[0]) if exc.args else _("You may not do this."))
        else:
            messages.success(request, _("Protected from recycling.") if protected else _("Protection removed."))
        return HttpResponseRedirect(self.next_url(reverse("pool:index")))
