"""What the tenant seal lets a request or a task see, for tests/access/test_seal.py: deliberately
unscoped reads (every account, by the ORM and by raw SQL), and the database role doing them.
Included in a test's URLs (seal_urls) and in its Celery worker (--include)."""
from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from access.models import Membership
from crm.models import Account


def seen() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT org_id FROM crm_account ORDER BY 1")
        raw = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT current_user, current_setting('app.org_id', true)")
        role, bound = cursor.fetchone()
    return {
        "orm": sorted(set(Account.objects.all().values_list("org_id", flat=True))),  # no org filter, on purpose
        "raw": raw,
        "accounts": Account.objects.count(),
        "memberships": sorted(set(Membership.objects.values_list("org_id", flat=True))),
        "role": role,
        "bound": bound,
    }


@shared_task(name="tests.seal_probe")
def probe_task(key: str) -> None:
    cache.set(key, seen(), 300)


def probe_view(request):
    if "publish" in request.GET:
        probe_task.delay(request.GET["publish"])
    return JsonResponse(seen())
