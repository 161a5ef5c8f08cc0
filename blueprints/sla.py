"""SLA escalation: a record that stays in a state longer than the blueprint's limit for it is
escalated once per stay: the chosen users and/or the record owner's manager (the members of the
parent role of the owner's role) are notified. Run by beat (`tasks.escalate_overdue`); safe to
run twice: notifications are keyed by the stay, and the stay is marked escalated."""
from __future__ import annotations

import datetime as dt
import logging

from django.http import Http404
from django.utils import timezone

from .models import Blueprint, BlueprintRecord
from .selectors import sla_limit

logger = logging.getLogger(__name__)
BATCH = 500


def _texts(schema, blueprint: Blueprint, state: str) -> dict[str, str]:
    """The message in both languages (the reader's is picked when the notification is shown)."""
    spec = schema.field(blueprint.field) if schema.has_field(blueprint.field) else None
    choice = next((c for c in (spec.options if spec else ()) if str(c.value) == state), None)
    rule = blueprint.sla.get(state) or {}
    amount, hours = int(rule.get("amount") or 0), rule.get("unit") == "hours"
    label_en = choice.label_en if choice else state
    label_zh = (choice.label_zh or choice.label_en) if choice else state
    return {"message_en": f"in “{label_en}” for more than {amount} {'hours' if hours else 'days'}",
            "message_zh": f"在“{label_zh}”停留超过 {amount} {'小时' if hours else '天'}"}


def escalate_overdue(now: dt.datetime | None = None) -> int:
    """Escalate every overdue stay not escalated yet; returns how many were escalated."""
    from access.visibility import visible
    from automation.delivery import notify_users
    from automation.messages import RULE_NOTICE
    from automation.runas import RuleActorError, rule_actor
    from automation.workflow_actions_builtin import Notify
    from crm.modules import get_module

    from .actions.transitions import do_mark_escalated

    now = now or timezone.now()
    done = 0
    versions = (Blueprint.objects.select_related("org")
                .filter(status__in=[Blueprint.Status.PUBLISHED, Blueprint.Status.SUPERSEDED]).exclude(sla={})
                .order_by("pk"))
    for blueprint in versions:
        try:
            actor = rule_actor(blueprint.org, blueprint.published_by_id)
            schema = get_module(blueprint.module, blueprint.org).bind(blueprint.org)
        except (RuleActorError, Http404):
            logger.warning("Blueprint %s: no one to act as, or its module is gone; SLA skipped", blueprint.pk)
            continue
        for state in sorted(blueprint.sla):
            limit = sla_limit(blueprint, state)
            if limit is None:
                continue
            stays = list(BlueprintRecord.objects.filter(
                org_id=blueprint.org_id, blueprint=blueprint, state=state, escalated_at__isnull=True,
                entered_at__lt=now - limit).order_by("pk")[:BATCH])
            if not stays:
                continue
            records = {r.pk: r for r in visible(actor, schema, "view").filter(pk__in=[s.record_id for s in stays])}
            rule = blueprint.sla[state]
            texts = _texts(schema, blueprint, state)
            for stay in stays:
                record = records.get(stay.record_id)
                if record is not None:
                    wanted = Notify().recipients({"users": rule.get("users") or [], "manager": rule.get("manager")},
                                                 record, blueprint.org)
                    notify_users(blueprint.org_id, wanted, RULE_NOTICE, schema.key, record.pk,
                                 f"bp-sla:{stay.pk}:{stay.visit}", params={"rule": blueprint.name, **texts})
                done += int(do_mark_escalated(stay.pk, at=now))
    return done
