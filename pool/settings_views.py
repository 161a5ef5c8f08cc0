"""The pool settings pages (administrators): the pools, one pool's form, deleting one."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from access.settings_forms import apply_errors
from crm.settings_views import AdminView

from . import actions
from .forms import PoolForm
from .models import Pool


class PoolSettingsView(AdminView):
    def get(self, request):
        pools = list(Pool.objects.filter(org=request.org).order_by("module", "name", "pk"))
        return render(request, "pool/settings_pools.html", {"pools": pools})


class PoolFormView(AdminView):
    def dispatch(self, request, *args, **kwargs):
        self.pool = None
        if kwargs.get("pool_pk") is not None and getattr(request, "org", None) is not None:
            self.pool = Pool.objects.filter(org=request.org, pk=kwargs["pool_pk"]).first()
            if self.pool is None:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def module_key(self, data=None) -> str:
        if self.pool is not None:
            return self.pool.module
        wanted = (data or self.request.GET).get("module") or "leads"
        return wanted if wanted in ("leads", "accounts") else "leads"

    def render_form(self, form, status=200):
        return render(self.request, "pool/settings_pool_form.html", {"form": form, "pool": self.pool,
                                                                     "module_key": form.module_key}, status=status)

    def get(self, request, pool_pk=None):
        key = self.module_key()
        initial = PoolForm.initial_for(self.pool) | ({} if self.pool else {"module": key})
        form = PoolForm(initial=initial, org=request.org, module_key=key)
        form.module_key = key
        return self.render_form(form)

    def post(self, request, pool_pk=None):
        key = self.module_key(request.POST)
        form = PoolForm(request.POST, org=request.org, module_key=key)
        form.module_key = key
        if form.is_valid():
            try:
                pool = actions.do_save_pool(request.org, actor=request.user, pool=self.pool, **form.values())
            except ValidationError as exc:
                apply_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Pool “%(name)s” saved.") % {"name": pool.name})
                return redirect("pool:settings")
        return self.render_form(form, status=400)


class PoolDeleteView(PoolFormView):
    def get(self, request, pool_pk):
        return redirect("pool:edit", pool_pk=pool_pk)

    def post(self, request, pool_pk):
        pool = self.pool
        try:
            actions.do_delete_pool(pool, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Pool “%(name)s” deleted.") % {"name": pool.name})
        return redirect("pool:settings")

