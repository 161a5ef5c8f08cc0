"""Date-based workflow rules and scheduled actions, run from Celery beat every minute.

Both are computed from the data, never from a timer in memory, so restarting beat or a worker
misses nothing and doubles nothing:

- A date rule fires for a record when (its date field ± the offset) has passed, later than the
  rule's activation. Each scan looks at the window since the previous scan (`scanned_until`,
  moved on only when a scan finished, minus a margin), finds the records whose date falls in it
  with one indexed range query (in batches by pk), and claims a run keyed by rule, record and
  occurrence: a run done already is skipped, so overlapping or repeated scans fire nothing twice.
  "Every time" rules fire again when the date is moved to a later occurrence; "once per record"
  rules only once. Repeating rules (monthly, yearly) have one occurrence per period.
- A delayed action is a ScheduledAction row written with its run. Due rows are taken with
  `select_for_update(skip_locked=True)`, done in the same transaction that marks them done.
"""
from __future__ import annotations

import calendar
import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import ExtractDay, ExtractMonth
from django.db.models.lookups import Exact, GreaterThan, In, LessThanOrEqual
from django.utils import timezone

from access.visibility import visible
from crm.criteria import CriteriaError, field_expression, to_q

from .run_models import RuleRun
from .runas import RuleActorError, rule_actor
from .workflow import KIND, _schema, criteria_hold, execute, record_key
from .workflow_models import ScheduledAction, WorkflowRule

logger = logging.getLogger(__name__)

OVERLAP = dt.timedelta(minutes=10)  # each scan reaches back a little before the last one ended
BATCH = 500
DATE_TYPES = ("date", "datetime")


# --- scheduled actions ----------------------------------------------------------------------------

def run_due_actions(now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Do every scheduled action due by `now`; how many were taken."""
    now = now or timezone.now()
    taken = 0
    while True:
        with transaction.atomic():
            rows = list(ScheduledAction.objects.select_for_update(skip_locked=True, of=("self",))
                        .select_related("rule", "rule__org")
                        .filter(status=ScheduledAction.Status.PENDING, due_at__lte=now).order_by("due_at", "pk")[:batch])
            if not rows:
                return taken
            for row in rows:
                _run_scheduled(row, now)
            taken += len(rows)


def _run_scheduled(row: ScheduledAction, now: dt.datetime) -> None:
    from django.utils.translation import gettext as _

    rule = row.rule
    status, error = ScheduledAction.Status.SKIPPED, ""
    if not rule.active:
        error = _("The rule was deactivated.")
    else:
        try:
            actor = rule_actor(rule.org, rule.run_as_id)
        except RuleActorError as exc:
            actor, status, error = None, ScheduledAction.Status.FAILED, str(exc)
        schema = _schema(rule, rule.org) if actor is not None else None
        record = visible(actor, schema, "view").filter(pk=row.record_id).first() if schema is not None else None
        if actor is None:
            pass
        elif record is None:
            error = _("The record is gone or out of the rule's reach.")
        elif not _still_matches(rule, schema, record):
            error = _("The record no longer matches the rule's criteria.")
        else:
            run = execute(rule, schema, record, actor, trigger="scheduled", key=f"scheduled:{row.pk}",
                          depth=row.depth, actions=[row.action])
            failed = run is not None and run.status == RuleRun.Status.FAILED
            status = ScheduledAction.Status.FAILED if failed else ScheduledAction.Status.DONE
            error = run.error if failed else ""
    row.status, row.error, row.done_at = status, error[:2000], now
    row.save(update_fields=["status", "error", "done_at"])


def _still_matches(rule: WorkflowRule, schema: Any, record: Any) -> bool:
    try:
        return criteria_hold(rule, schema, record)
    except CriteriaError:
        return False


# --- date-based rules -----------------------------------------------------------------------------

def offset_of(rule: WorkflowRule) -> dt.timedelta:
    """What is added to the record's date to get the moment the rule fires."""
    amount = (dt.timedelta(hours=rule.date_amount) if rule.date_unit == WorkflowRule.Unit.HOURS
              else dt.timedelta(days=rule.date_amount))
    return -amount if rule.date_before else amount


def moment(value: dt.date | dt.datetime) -> dt.datetime:
    """A date is its midnight in the server's time zone."""
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    return timezone.make_aware(dt.datetime.combine(value, dt.time.min))


def shifted(value: dt.date | dt.datetime, months: int) -> dt.date | dt.datetime:
    """The date `months` later, on the same day or the month's last (31 Jan + 1 month = 28/29 Feb)."""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
    year, month = divmod(value.month - 1 + months, 12)
    year += value.year
    return value.replace(year=year, month=month + 1, day=min(value.day, calendar.monthrange(year, month + 1)[1]))


def due_occurrence(rule: WorkflowRule, value: Any, start: dt.datetime, now: dt.datetime) -> Any:
    """The occurrence of the record's date whose firing moment is in (start, now], or None."""
    if value in (None, ""):
        return None
    offset = offset_of(rule)
    if not rule.repeat:
        fire = moment(value) + offset
        return value if start < fire <= now else None
    step = 12 if rule.repeat == WorkflowRule.Repeat.YEARLY else 1
    target = timezone.localtime(now - offset)
    base = timezone.localtime(value) if isinstance(value, dt.datetime) else value
    periods = ((target.year - base.year) * 12 + target.month - base.month) // step
    for k in (periods + 1, periods, periods - 1):  # the latest occurrence not after now
        if k < 0:
            continue
        occurrence = shifted(value, k * step)
        fire = moment(occurrence) + offset
        if fire <= now:
            return occurrence if fire > start else None
    return None


def _window_q(rule: WorkflowRule, spec: Any, start: dt.datetime, now: dt.datetime) -> Q:
    """Records whose date (or, repeating, whose first occurrence) may fire in (start, now]."""
    offset = offset_of(rule)
    expr = field_expression(spec)
    low, high = start - offset, now - offset
    if spec.type == "date":
        low, high = timezone.localdate(low), timezone.localdate(high)
    if not rule.repeat:
        return Q(GreaterThan(expr, low)) & Q(LessThanOrEqual(expr, high))
    q = Q(LessThanOrEqual(expr, high))
    days = _days_between(timezone.localdate(start - offset), timezone.localdate(now - offset))
    if days is None:  # a long window (beat was down): every record is a candidate
        return q
    if rule.repeat == WorkflowRule.Repeat.MONTHLY:
        return q & Q(In(ExtractDay(expr), sorted({day for _month, day in days})))
    by_month: dict[int, set[int]] = {}
    for month, day in days:
        by_month.setdefault(month, set()).add(day)
    either = Q(pk__in=[])
    for month, month_days in by_month.items():
        either |= Q(Exact(ExtractMonth(expr), month)) & Q(In(ExtractDay(expr), sorted(month_days)))
    return q & either


def _days_between(low: dt.date, high: dt.date) -> list[tuple[int, int]] | None:
    """(month, day) of each date in [low, high], with the days a short month stands for (a
    record on the 31st fires on the 30th of April); None for more than a month."""
    if (high - low).days > 31:
        return None
    found: list[tuple[int, int]] = []
    day = low
    while day <= high:
        found.append((day.month, day.day))
        last = calendar.monthrange(day.year, day.month)[1]
        if day.day == last:
            found += [(day.month, extra) for extra in range(last + 1, 32)]
            if day.month == 2:
                found.append((2, 29))
        day += dt.timedelta(days=1)
    return found


def scan_date_rules(now: dt.datetime | None = None) -> int:
    """Fire every active date rule for the records that came due; how many runs were made."""
    now = now or timezone.now()
    fired = 0
    for rule_id in (WorkflowRule.objects.filter(active=True, trigger=WorkflowRule.Trigger.DATE)
                    .order_by("pk").values_list("pk", flat=True)):
        try:
            fired += scan_date_rule(rule_id, now)
        except Exception:  # one broken rule must not stop the others
            logger.exception("Date scan of workflow rule %s failed", rule_id)
    return fired


def scan_date_rule(rule_id: int, now: dt.datetime) -> int:
    rule = WorkflowRule.objects.select_related("org").filter(pk=rule_id, active=True).first()
    if rule is None or rule.activated_at is None:
        return 0
    try:
        actor = rule_actor(rule.org, rule.run_as_id)
    except RuleActorError:
        logger.warning("Workflow rule %s: its author is no longer active", rule.pk)
        return 0
    schema = _schema(rule, rule.org)
    if schema is None or not schema.has_field(rule.date_field):
        return 0
    spec = schema.field(rule.date_field)
    if spec.type not in DATE_TYPES:
        return 0
    start = max(rule.activated_at, (rule.scanned_until or rule.activated_at) - OVERLAP)
    if start >= now:
        return 0
    records = visible(actor, schema, "view").filter(_window_q(rule, spec, start, now))
    if rule.criteria and next(iter(rule.criteria.values()), None):
        records = records.filter(to_q(rule.criteria, schema))
    fired, last_pk = 0, 0
    while True:
        batch = list(records.filter(pk__gt=last_pk).order_by("pk")[:BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        due = {}
        for record in batch:
            occurrence = due_occurrence(rule, spec.get_value(record), start, now)
            if occurrence is not None:
                key = record_key(rule, record.pk, f"date:{record.pk}:{occurrence.isoformat()}")
                due[key] = (record, occurrence)
        finished = set(RuleRun.objects.filter(org_id=rule.org_id, rule_kind=KIND, rule_id=rule.pk, key__in=list(due),
                                              status__in=[RuleRun.Status.DONE, RuleRun.Status.SKIPPED])
                       .values_list("key", flat=True))
        for key, (record, occurrence) in due.items():
            if key not in finished:
                run = execute(rule, schema, record, actor, trigger="date", key=key,
                              base_time=moment(occurrence) + offset_of(rule))
                fired += run is not None
    WorkflowRule.objects.filter(Q(scanned_until__isnull=True) | Q(scanned_until__lt=now), pk=rule.pk).update(
        scanned_until=now)
    return fired
