"""Date-based workflow rules and scheduled actions, run by the beat jobs, with a frozen clock:
due once, never twice, none missed after a restart, and a moved date fires again only for
"every time" rules."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from automation.models import ScheduledAction, WorkflowRule
from automation.workflow_schedule import due_occurrence
from automation.workflow_tasks import run_scheduled_actions, run_workflow_dates
from crm import actions as crm_actions
from tests.automation.workflow_helpers import committed, inbox, make_rule, notify, runs_of  # noqa: F401
from tests.helpers import version_of

UTC = dt.timezone.utc
START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def beat() -> None:
    """What Celery beat queues every minute."""
    run_workflow_dates.apply().get()
    run_scheduled_actions.apply().get()


@pytest.fixture
def fiona(org, make_user):
    return make_user(org, role="admin", username="fiona")


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def reminder(admin, fiona, **values):
    values = {"name": "Closing soon", "trigger": "date", "date_field": "close_date", "date_before": True,
              "date_amount": 3, "date_unit": "days", "actions": [notify(fiona, message="{{name}} closes soon")],
              **values}
    return make_rule(admin, "deals", **values)


def test_scenario_a_reminder_3_days_before_close_date_fires_once(admin_user, fiona, clock):
    rule = reminder(admin_user, fiona)
    crm_actions.do_create_record("deals", {"name": "Big deal", "close_date": "2026-03-10"}, actor=admin_user)
    beat()
    clock.move_to(at(2026, 3, 6, 23, 59))
    beat()
    assert inbox(fiona) == []
    clock.move_to(at(2026, 3, 7, 0, 1))
    beat()
    assert [n.params["message"] for n in inbox(fiona)] == ["Big deal closes soon"]
    beat()  # the job again
    WorkflowRule.objects.filter(pk=rule.pk).update(scanned_until=None)  # a restart that lost the last scan's end
    beat()
    clock.move_to(at(2026, 3, 12))
    beat()
    assert len(inbox(fiona)) == 1 and len(runs_of(rule)) == 1 and runs_of(rule)[0].trigger == "date"


def test_a_beat_that_was_down_misses_nothing(admin_user, fiona, clock):
    reminder(admin_user, fiona)
    for day in (5, 6, 7):
        crm_actions.do_create_record("deals", {"name": f"Deal {day}", "close_date": f"2026-03-{day + 3:02d}"},
                                     actor=admin_user)
    clock.move_to(at(2026, 3, 20))  # beat was down for two weeks
    beat()
    assert sorted(n.params["record"] for n in inbox(fiona)) == ["Deal 5", "Deal 6", "Deal 7"]


def test_dates_that_came_due_before_activation_do_not_fire(admin_user, fiona, clock):
    crm_actions.do_create_record("deals", {"name": "Old", "close_date": "2026-03-02"}, actor=admin_user)
    reminder(admin_user, fiona)
    clock.move_to(at(2026, 3, 5))
    beat()
    assert inbox(fiona) == []


@pytest.mark.parametrize("once, fired", [(False, 2), (True, 1)])
def test_a_date_moved_later_fires_again_only_for_every_time_rules(once, fired, admin_user, fiona, clock):
    rule = reminder(admin_user, fiona, once_per_record=once)
    deal = crm_actions.do_create_record("deals", {"name": "Big deal", "close_date": "2026-03-10"}, actor=admin_user)
    clock.move_to(at(2026, 3, 7, 12))
    beat()
    assert len(inbox(fiona)) == 1
    clock.move_to(at(2026, 3, 8))
    crm_actions.do_update_record(deal, {"close_date": "2026-03-20"}, version=version_of(deal), actor=admin_user)
    beat()
    clock.move_to(at(2026, 3, 16, 23))
    beat()
    assert len(inbox(fiona)) == 1
    clock.move_to(at(2026, 3, 17, 0, 1))
    beat()
    beat()
    assert len(inbox(fiona)) == fired and len(runs_of(rule)) == fired


def test_after_a_datetime_field_by_hours(admin_user, fiona, clock):
    from crm.actions import do_create_field

    do_create_field(admin_user.org, "deals", api_name="demo_at", label_en="Demo at", field_type="datetime",
                    actor=admin_user)
    reminder(admin_user, fiona, date_field="demo_at", date_before=False, date_amount=2, date_unit="hours",
             actions=[notify(fiona, message="How was the demo of {{name}}?")])
    crm_actions.do_create_record("deals", {"name": "Demo deal", "demo_at": "2026-03-02T10:00:00Z"},
                                 actor=admin_user)
    clock.move_to(at(2026, 3, 2, 11, 59))
    beat()
    assert inbox(fiona) == []
    clock.move_to(at(2026, 3, 2, 12, 0))
    beat()
    assert [n.params["message"] for n in inbox(fiona)] == ["How was the demo of Demo deal?"]


def test_repeating_yearly_fires_once_a_year(admin_user, fiona, clock):
    rule = reminder(admin_user, fiona, name="Anniversary", date_before=False, date_amount=0, repeat="yearly")
    crm_actions.do_create_record("deals", {"name": "Big deal", "close_date": "2026-03-10"}, actor=admin_user)
    for moment, count in ((at(2026, 3, 9), 0), (at(2026, 3, 10, 1), 1), (at(2026, 9, 1), 1), (at(2027, 3, 9), 1),
                          (at(2027, 3, 10, 0, 1), 2), (at(2027, 3, 11), 2), (at(2028, 3, 10, 8), 3)):
        clock.move_to(moment)
        beat()
        beat()
        assert len(inbox(fiona)) == count, moment
    assert [run.key for run in runs_of(rule)][-1].endswith("2028-03-10")


def test_repeating_monthly_on_the_31st_fires_on_short_months_last_day(admin_user, fiona, clock):
    reminder(admin_user, fiona, name="Monthly", date_before=False, date_amount=0, repeat="monthly")
    crm_actions.do_create_record("deals", {"name": "Big deal", "close_date": "2026-03-31"}, actor=admin_user)
    fired = []
    day = at(2026, 3, 29, 12)
    while day < at(2026, 5, 2):
        clock.move_to(day)
        before = len(inbox(fiona))
        beat()
        if len(inbox(fiona)) > before:
            fired.append(day.date().isoformat())
        day += dt.timedelta(days=1)
    assert fired == ["2026-03-31", "2026-04-30"]


def test_due_occurrence_of_a_monthly_date_in_february():
    rule = WorkflowRule(date_before=False, date_amount=0, date_unit="days", repeat="monthly")
    assert due_occurrence(rule, dt.date(2026, 1, 31), at(2026, 2, 27), at(2026, 2, 28, 1)) == dt.date(2026, 2, 28)
    assert due_occurrence(rule, dt.date(2026, 1, 31), at(2026, 2, 28, 1), at(2026, 3, 1)) is None


def test_a_delayed_action_is_done_once_when_due(admin_user, fiona, clock, committed):
    rule = make_rule(admin_user, "deals", name="Later",
                     actions=[notify(fiona, message="Two days ago: {{name}}", delay={"amount": 2, "unit": "days"})])
    with committed():
        crm_actions.do_create_record("deals", {"name": "Big deal"}, actor=admin_user)
    clock.move_to(START + dt.timedelta(days=1))
    beat()
    assert inbox(fiona) == []
    clock.move_to(START + dt.timedelta(days=2, minutes=1))
    beat()
    beat()
    assert len(inbox(fiona)) == 1
    [row] = ScheduledAction.objects.filter(rule=rule)
    assert row.status == "done"
    assert [run.trigger for run in runs_of(rule)] == ["created", "scheduled"]


def test_a_delayed_action_is_skipped_when_the_record_no_longer_matches(admin_user, fiona, clock, committed):
    rule = make_rule(admin_user, "deals", name="Later", criteria={"all": [{"field": "stage", "op": "ne",
                                                                           "value": "lost"}]},
                     actions=[notify(fiona, delay={"amount": 1, "unit": "hours"})])
    with committed():
        deal = crm_actions.do_create_record("deals", {"name": "Big deal"}, actor=admin_user)
    crm_actions.do_update_record(deal, {"stage": "lost"}, version=version_of(deal), actor=admin_user)
    clock.move_to(START + dt.timedelta(hours=2))
    beat()
    assert inbox(fiona) == [] and ScheduledAction.objects.get(rule=rule).status == "skipped"
