"""Twenty reps' threads, each with its own database connection, claim the same ten records at
once: every record ends with exactly one owner, and no rep holds more than the pool allows."""
from __future__ import annotations

import random
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from access.models import User
from access.visibility import bind_org
from crm.models import Lead
from crm.modules import get_module
from pool import actions
from pool.models import PoolMove
from tests.pool.conftest import make_pool, waiting_leads

THREADS, RECORDS, CAPACITY = 20, 10, 2


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_claim_ten_records(transactional_db, admin_user, make_user):
    reps = [make_user(admin_user.org, username=f"rep{i}") for i in range(THREADS // 2)]
    pool = make_pool(admin_user, members=reps, capacity=CAPACITY, daily_claims=CAPACITY)
    ids = [lead.pk for lead in waiting_leads(admin_user, pool, RECORDS)]
    org = admin_user.org
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def claim(rep_id: int, seed: int) -> None:
        try:
            rep = bind_org(User.objects.get(pk=rep_id), org)  # this thread's own connection
            order = random.Random(seed).sample(ids, len(ids))
            start.wait()
            for pk in order:
                try:
                    actions.do_claim_records(get_module("leads", org), [pk], actor=rep)
                    outcomes.append("won")
                except (PermissionDenied, ValidationError) as exc:
                    outcomes.append(str(exc))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connection.close()

    # Two threads per rep: the limits must hold against the rep's own parallel claims too.
    threads = [threading.Thread(target=claim, args=(reps[i % len(reps)].pk, i)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    owners = dict(Lead.objects.filter(pk__in=ids).values_list("pk", "owner_id"))
    assert all(owner is not None for owner in owners.values()), owners  # every record claimed once
    claims = PoolMove.objects.filter(record_id__in=ids, kind="claimed")
    assert claims.count() == RECORDS == outcomes.count("won")  # exactly one winner per record
    held = {}
    for owner in owners.values():
        held[owner] = held.get(owner, 0) + 1
    assert max(held.values()) <= CAPACITY, held
    assert any("Already claimed by" in text for text in outcomes)
