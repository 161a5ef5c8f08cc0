"""Fifty people save the same record at the same moment, each from the version they saw (each a
thread with its own database connection): exactly one wins each version, the others get a
conflict and nothing of theirs is written; retrying from the new version, every one of them
gets their change in, one after another, and none is lost."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from access.models import User
from access.visibility import bind_org
from crm import actions
from crm.actions import ConflictError
from crm.models import Account, TimelineEntry

EDITORS = 50


def _run_editors(org, user_ids: list[int], work) -> list[BaseException]:
    start = threading.Barrier(len(user_ids))
    errors: list[BaseException] = []

    def run(index: int, user_id: int) -> None:
        try:
            user = bind_org(User.objects.get(pk=user_id), org)  # this thread's own connection
            start.wait()
            work(index, user)
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, pk)) for i, pk in enumerate(user_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


@pytest.mark.django_db(transaction=True)
def test_fifty_editors_of_one_record_one_wins_each_version_and_nothing_is_lost(transactional_db, admin_user,
                                                                                make_user):
    org = admin_user.org
    editors = [make_user(org, username=f"editor{i}").pk for i in range(EDITORS)]
    account = actions.do_create_record("accounts", {"name": "Contested"}, actor=admin_user)
    seen = account.version
    won: list[int] = []
    conflicts: list[int] = []

    def once(index: int, user) -> None:
        try:
            actions.do_update_record(Account.objects.get(pk=account.pk), {"city": f"City {index}"}, version=seen,
                                     actor=user)
            won.append(index)
        except ConflictError:
            conflicts.append(index)

    assert _run_editors(org, editors, once) == []
    assert len(won) == 1 and len(conflicts) == EDITORS - 1
    stored = Account.objects.get(pk=account.pk)
    assert (stored.version, stored.city) == (seen + 1, f"City {won[0]}")
    assert TimelineEntry.objects.filter(record_id=account.pk, kind="updated").count() == 1

    # Each one reloads and tries again until their change is in: all fifty land, one per version.
    def until_saved(index: int, user) -> None:
        if index in won:
            return
        while True:
            current = Account.objects.get(pk=account.pk)
            try:
                actions.do_update_record(current, {"description": f"note {index}"}, version=current.version,
                                         actor=user)
                return
            except ConflictError:
                continue

    assert _run_editors(org, editors, until_saved) == []
    stored = Account.objects.get(pk=account.pk)
    assert stored.version == seen + EDITORS
    entries = TimelineEntry.objects.filter(record_id=account.pk, kind="updated")
    assert entries.count() == EDITORS
    written = sorted(e.changes["description"][1] for e in entries if "description" in e.changes)
    assert written == sorted(f"note {i}" for i in range(EDITORS) if i not in won)
