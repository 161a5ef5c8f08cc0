"""The webhook log (/settings/automation/webhooks/): deliveries of the rules of every module the
user may automate, newest first (optionally of one rule), and one delivery's attempts. Anyone who
may automate no module, and any other org's delivery, gets 404."""
from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.http import urlencode
from django.http import Http404
from django.shortcuts import render

from .settings_views import AutomationSettingsView, configurable_modules
from .webhook_models import WebhookDelivery

PAGE_SIZE = 50


def _modules(request) -> dict[str, Any]:
    modules = {m.key: m for m in configurable_modules(request)}
    if not modules:
        raise Http404
    return modules


class WebhookLogView(AutomationSettingsView):
    def get(self, request):
        modules = _modules(request)
        deliveries = WebhookDelivery.objects.filter(org=request.org, module__in=list(modules))
        rule = request.GET.get("rule", "")
        if rule.isdigit():
            deliveries = deliveries.filter(rule_kind="workflow", rule_id=int(rule))
        status = request.GET.get("status", "")
        if status in WebhookDelivery.Status.values:
            deliveries = deliveries.filter(status=status)
        page = Paginator(deliveries.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
        for delivery in page.object_list:
            delivery.schema = modules.get(delivery.module)
        rule = rule if rule.isdigit() else ""
        kept = urlencode({key: value for key, value in (("rule", rule), ("status", status)) if value})
        return render(request, "automation/webhooks.html",
                      {"page": page, "rule": rule, "status": status, "statuses": WebhookDelivery.Status.choices,
                       "pager_query": f"&{kept}" if kept else ""})


class WebhookDeliveryView(AutomationSettingsView):
    def dispatch(self, request, *args, **kwargs):
        # The delivery is looked up before the method is: one that is not the user's is 404 for
        # every method (never 405).
        if request.user.is_authenticated and getattr(request, "org", None) is not None:
            self.modules = _modules(request)
            self.delivery = (WebhookDelivery.objects
                             .filter(org=request.org, pk=kwargs["delivery_pk"], module__in=list(self.modules)).first())
            if self.delivery is None:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, delivery_pk):
        modules, delivery = self.modules, self.delivery
        delivery.schema = modules.get(delivery.module)
        attempts = delivery.attempt_rows.filter(org=request.org).order_by("number")
        return render(request, "automation/webhook_delivery.html", {"delivery": delivery, "attempts": attempts})
