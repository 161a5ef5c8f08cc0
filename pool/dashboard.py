"""A pool's dashboard (its administrators, organisation administrators): records waiting, claims
and recycles per day over 30 days, each rep's holdings against the capacity, days held, and how
claimed records convert. Every figure is one grouped query over an index range (the moves of
30 days, the pool's claimed states), so the page's cost does not grow with the pool's history."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Avg, Count, Exists, F, OuterRef, Q
from django.db.models.functions import TruncDate
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from access.models import User
from crm import selectors as crm_selectors

from .models import Pool, PoolMove, PoolState
from .recycle import record_model
from .selectors import is_pool_admin
from .views import PoolView

DAYS = 30
CONVERSION_DAYS = 90
TOP_REPS = 50


def per_day(pool: Pool, now: dt.datetime) -> list[dict[str, Any]]:
    since = (timezone.localtime(now) - dt.timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (PoolMove.objects.filter(org_id=pool.org_id, pool=pool, at__gte=since,
                                    kind__in=[PoolMove.Kind.CLAIMED, PoolMove.Kind.ASSIGNED, PoolMove.Kind.RECYCLED])
            .annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
            .values("day", "kind").annotate(count=Count("id")))
    counts = {(r["day"], r["kind"]): r["count"] for r in rows}
    days = [since.date() + dt.timedelta(days=i) for i in range(DAYS)]
    return [{"day": day, "claimed": counts.get((day, "claimed"), 0) + counts.get((day, "assigned"), 0),
             "recycled": counts.get((day, "recycled"), 0)} for day in days]


def holdings(pool: Pool, now: dt.datetime) -> list[dict[str, Any]]:
    rows = list(PoolState.objects.filter(org_id=pool.org_id, pool=pool, in_pool=False, holder__isnull=False)
                .values("holder_id").annotate(count=Count("id"), since=Avg(now - F("claimed_at")))
                .order_by("-count", "holder_id")[:TOP_REPS])
    names = {u.pk: str(u) for u in User.objects.filter(pk__in=[r["holder_id"] for r in rows])}
    return [{"name": names.get(r["holder_id"], "?"), "count": r["count"], "limit": pool.capacity,
             "days": round(r["since"].total_seconds() / 86400, 1) if r["since"] else 0} for r in rows]


def conversion(pool: Pool, now: dt.datetime) -> dict[str, int]:
    """Of the records claimed in the last 90 days: how many got a deal since, how many were won."""
    claimed = PoolState.objects.filter(org_id=pool.org_id, pool=pool, claimed_at__gte=now - dt.timedelta(
        days=CONVERSION_DAYS))
    if pool.module == "accounts":
        from crm.models import Deal

        deals = Deal._base_manager.filter(org_id=pool.org_id, account_id=OuterRef("record_id"), deleted_at__isnull=True,
                                          created_at__gte=OuterRef("claimed_at"))
        figures = claimed.aggregate(total=Count("id"), deal=Count("id", filter=Q(Exists(deals))),
                                    won=Count("id", filter=Q(Exists(deals.filter(stage="won")))))
    else:
        qualified = record_model("leads")._base_manager.filter(org_id=pool.org_id, pk=OuterRef("record_id"),
                                                               status="qualified")
        figures = claimed.aggregate(total=Count("id"), won=Count("id", filter=Q(Exists(qualified))))
        figures["deal"] = None
    return figures


class DashboardView(PoolView):
    def dispatch(self, request, *args, **kwargs):
        # The pool first, whatever the method: one the user may not open is a 404.
        if request.user.is_authenticated and getattr(request, "org", None) is not None:
            self.pool = Pool.objects.filter(org=request.org, pk=kwargs["pool_pk"]).first()
            if self.pool is None or not is_pool_admin(request.user, self.pool):
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, pool_pk):
        pool = self.pool
        now = timezone.now()
        waiting = crm_selectors.bounded_count(PoolState.objects.filter(org=request.org, pool=pool, in_pool=True))
        days = per_day(pool, now)
        return render(request, "pool/dashboard.html", {
            "pool": pool, "waiting": crm_selectors.count_label(waiting), "days": days,
            "claimed_total": sum(d["claimed"] for d in days), "recycled_total": sum(d["recycled"] for d in days),
            "reps": holdings(pool, now), "conversion": conversion(pool, now), "conversion_days": CONVERSION_DAYS})
