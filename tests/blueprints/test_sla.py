"""SLA per state: a record that stays longer than the limit is escalated once per stay (the
owner's manager and chosen users are notified), by the beat job; overdue records carry an alarm
on list rows and kanban cards, at a query cost that does not grow with the rows."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from access.sharing_actions import do_create_role, do_set_user_role
from automation.models import Notification
from blueprints import actions
from blueprints.models import BlueprintRecord
from blueprints.sla import escalate_overdue
from tests.factories import DealFactory
from tests.helpers import fresh

from .bp_helpers import deal_pipeline

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


def with_sla(org, admin, notify_users=()):
    bp, t = deal_pipeline(org, admin, publish=False)
    actions.do_update_blueprint(bp, name=bp.name, start_state="qualification", criteria=None, actor=admin,
                                sla={"qualification": {"amount": 2, "unit": "days", "manager": True,
                                                       "users": list(notify_users)}})
    return actions.do_publish_blueprint(bp, actor=admin), t


@pytest.fixture
def cast(org, admin_user, standard_user, make_user):
    """Sam reports to Hana (her role is the parent of his)."""
    head = do_create_role(org, name="Head of sales", actor=admin_user)
    rep = do_create_role(org, name="Reps", parent=head, actor=admin_user)
    hana = make_user(org, username="hana")
    do_set_user_role(hana.membership, head, actor=admin_user)
    do_set_user_role(standard_user.membership, rep, actor=admin_user)
    return fresh(standard_user), fresh(hana)


@pytest.mark.django_db
def test_an_overdue_stay_is_escalated_once_to_the_manager_and_the_chosen_users(org, admin_user, cast, other_user):
    """Olga is chosen too, but cannot open Sam's private deal: only those who may are told."""
    sam, hana = cast
    with time_machine.travel(START, tick=False) as clock:
        _bp, t = with_sla(org, admin_user, notify_users=[admin_user.pk, other_user.pk])
        late = DealFactory(actor=sam, name="Slow")
        moved = DealFactory(actor=sam, name="Quick")
        clock.shift(dt.timedelta(days=1))
        actions.do_transition(moved, t["Send proposal"], actor=sam)  # left the state in time
        clock.shift(dt.timedelta(days=1, hours=1))
        assert escalate_overdue() == 1
        told = set(Notification.objects.filter(record_id=late.pk, kind="rule_notice").values_list("recipient_id",
                                                                                                  flat=True))
        assert told == {hana.pk, admin_user.pk}
        assert not Notification.objects.filter(record_id=moved.pk).exclude(kind="owner_assigned").exists()
        assert escalate_overdue() == 0  # once per stay
        assert Notification.objects.filter(record_id=late.pk, kind="rule_notice").count() == 2
        # A new stay in the state (after leaving and coming back) would be escalated again.
        assert BlueprintRecord.objects.get(record_id=late.pk, module="deals").escalated_at == timezone.now()


@pytest.mark.django_db
def test_overdue_records_are_flagged_on_the_list_and_the_board(org, admin_user, standard_user, client_for,
                                                               django_assert_max_num_queries):
    with time_machine.travel(START, tick=False) as clock:
        with_sla(org, admin_user, notify_users=[admin_user.pk])
        late = [DealFactory(actor=standard_user, name=f"Late {i}") for i in range(3)]
        clock.shift(dt.timedelta(days=3))
        fresh_deal = DealFactory(actor=standard_user, name="Fresh")
        client = client_for(standard_user)
        page = client.get(reverse("crm:list", args=["deals"])).content.decode()
        assert page.count('data-mark="blueprint-overdue"') == 3
        board = client.get(reverse("crm:kanban", args=["deals"]) + "?field=stage").content.decode()
        assert board.count("bi-alarm") == 3
        assert 'Fresh' in page
        with django_assert_max_num_queries(40) as few:
            client.get(reverse("crm:list", args=["deals"]))
        for i in range(10):
            DealFactory(actor=standard_user, name=f"More {i}")
        clock.shift(dt.timedelta(days=3))
        with django_assert_max_num_queries(len(few.captured_queries)):
            client.get(reverse("crm:list", args=["deals"]))
    assert fresh_deal and late


# --- with a real worker on the real Redis ------------------------------------------------------------

from tests.automation.test_assignment_workers import queue, start_worker  # noqa: E402,F401
from tests.workers import wait_for  # noqa: E402


@pytest.mark.django_db(transaction=True)
def test_the_beat_job_escalates_through_a_real_worker(org, admin_user, cast, start_worker):
    from blueprints.tasks import escalate_overdue as task

    sam, hana = cast
    with time_machine.travel(timezone.now() - dt.timedelta(days=3), tick=False):
        with_sla(org, admin_user)
        late = DealFactory(actor=sam, name="Slow")
    start_worker(concurrency=1)
    task.delay()
    assert wait_for(lambda: Notification.objects.filter(record_id=late.pk, recipient=hana,
                                                        kind="rule_notice").exists(), 120)
    task.delay()  # run again, as beat would: nothing new
    assert wait_for(lambda: BlueprintRecord.objects.filter(record_id=late.pk, escalated_at__isnull=False).exists(), 60)
    import time

    time.sleep(3)
    assert Notification.objects.filter(record_id=late.pk, kind="rule_notice").count() == 1
