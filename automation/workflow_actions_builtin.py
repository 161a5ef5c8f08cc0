"""The workflow action kinds of this app: field update, in-app notification, create a task, create
a record in another module, assign by an assignment rule (e-mail and webhook live elsewhere).

Idempotency: every kind runs inside its run's transaction, and the run records the action as done
in that same transaction; a retry locks the run's row and skips actions recorded as done. So a
record created by an action and the "done" mark commit together or not at all, and a retried
action never creates a second one. Notifications are keyed as well (`context.key` + recipient)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Membership, OrgRole, User
from crm import actions as crm_actions
from crm.modules import get_module

from .assignment import assign_record
from .delivery import notify_users
from .messages import RULE_NOTICE
from .workflow_actions import FIELD_UPDATES, MESSAGES_AND_RECORDS, ActionContext, ActionError, register_action

EMPTY = (None, "", [])
MERGE = re.compile(r"\{\{\s*([\w-]+)\s*\}\}")
MAX_TEXT = 500


def _names(org: Any, user_ids: list[int]) -> dict[int, str]:
    return {u.pk: str(u) for u in User.objects.filter(pk__in=user_ids, memberships__org=org)}


def show_value(schema: Any, spec: Any, value: Any) -> str:
    """A field's (Python) value as a person reads it."""
    if value in EMPTY:
        return _("(empty)")
    if spec.type == "user":
        return _names(schema.org, [value]).get(value, f"#{value}")
    if spec.type == "lookup":
        from access.linked import linked_names

        try:
            return linked_names(schema.org, get_module(spec.target, schema.org), [value]).get(value, f"#{value}")
        except Exception:
            return f"#{value}"
    return spec.field_type.display(value, spec)


def merge(text: str, schema: Any, record: Any) -> str:
    """"{{field_key}}" in a text becomes the record's value of that field, as shown."""
    def value(match: re.Match) -> str:
        key = match.group(1)
        if not schema.has_field(key):
            return match.group(0)
        spec = schema.field(key)
        shown = show_value(schema, spec, spec.get_value(record))
        return "" if shown == _("(empty)") else shown
    return MERGE.sub(value, text)


def _merge_problem(text: str, schema: Any) -> str | None:
    unknown = [key for key in MERGE.findall(text) if not schema.has_field(key)]
    return _("Unknown field in {{…}}: %(fields)s") % {"fields": ", ".join(unknown)} if unknown else None


def _as_refusal(exc: Exception) -> ActionError:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return ActionError(" ".join(" ".join(m) for m in exc.message_dict.values()))
    if isinstance(exc, ValidationError):
        return ActionError(" ".join(exc.messages))
    return ActionError(str(exc))


# --- field update -------------------------------------------------------------------------------

class FieldUpdate:
    """Set a field through `do_update_record`, with the record's current version: locks,
    validation rules and field permissions of the rule's author apply; a refusal is the error."""

    type = "field_update"
    stage = FIELD_UPDATES

    def label(self) -> str:
        return _("Update a field")

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        key = str(config.get("field") or "")
        if not key or not schema.has_field(key):
            raise ValidationError({"field": _("Choose a field of this module.")})
        spec = schema.field(key)
        if not spec.editable:
            raise ValidationError({"field": _("“%(field)s” cannot be changed by a rule.") % {"field": spec.label}})
        try:
            value = spec.field_type.clean(config.get("value"), spec)
        except ValidationError as exc:
            raise ValidationError({"value": exc.messages})
        if spec.required and value in EMPTY:
            raise ValidationError({"value": _("“%(field)s” is required, so it cannot be emptied.")
                                   % {"field": spec.label}})
        return {"field": spec.key, "value": spec.field_type.to_json(value)}

    def _new(self, config: dict[str, Any], schema: Any) -> tuple[Any, Any]:
        spec = schema.field(config["field"])
        return spec, spec.field_type.clean(config.get("value"), spec)

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        try:
            spec, new = self._new(config, context.schema)
        except (KeyError, ValidationError):
            return _("Update a field that no longer exists")
        old = spec.get_value(context.record)
        if old == new or (old in EMPTY and new in EMPTY):
            return _("“%(field)s” is already %(value)s: no change") % {
                "field": spec.label, "value": show_value(context.schema, spec, new)}
        return _("“%(field)s”: %(old)s → %(new)s") % {"field": spec.label, "old": show_value(context.schema, spec, old),
                                                      "new": show_value(context.schema, spec, new)}

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        try:
            spec, new = self._new(config, context.schema)
        except (KeyError, ValidationError):
            raise ActionError(_("The field to update no longer exists."))
        before = self.describe(config, context)
        try:
            crm_actions.do_update_record(context.record, {spec.key: new}, version=context.record.version,
                                         actor=context.actor, path=context.path)
        except (ValidationError, PermissionDenied, crm_actions.ConflictError) as exc:
            raise _as_refusal(exc)
        return before


# --- in-app notification ------------------------------------------------------------------------

class Notify:
    """Tell chosen users, members of roles, the owner, the owner's manager (the members of the
    parent role of the owner's role) or the requester, in the app."""

    type = "notify"
    stage = MESSAGES_AND_RECORDS
    WHO = ("owner", "manager", "requester")

    def label(self) -> str:
        return _("Send an in-app notification")

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        message = str(config.get("message") or "").strip()
        if not message:
            raise ValidationError({"message": _("Write the message.")})
        if len(message) > MAX_TEXT:
            raise ValidationError({"message": _("At most %(max)d characters.") % {"max": MAX_TEXT}})
        problem = _merge_problem(message, schema)
        if problem:
            raise ValidationError({"message": problem})
        try:
            users = sorted({int(v) for v in config.get("users") or []})
            roles = sorted({int(v) for v in config.get("roles") or []})
        except (TypeError, ValueError):
            raise ValidationError({"users": _("Choose users of this organisation.")})
        if len(set(Membership.objects.filter(org=org, user_id__in=users, is_active=True)
                   .values_list("user_id", flat=True))) != len(users):
            raise ValidationError({"users": _("Choose active users of this organisation.")})
        if OrgRole.objects.filter(org=org, pk__in=roles).count() != len(roles):
            raise ValidationError({"roles": _("Choose roles of this organisation.")})
        cleaned = {"users": users, "roles": roles, "message": message}
        for who in self.WHO:
            cleaned[who] = config.get(who) in (True, "on", "1", "true", 1)
        if cleaned["requester"] and not schema.has_field("requested_by"):
            raise ValidationError({"requester": _("Records of this module have no requester.")})
        if not (users or roles or any(cleaned[who] for who in self.WHO)):
            raise ValidationError({"users": _("Choose at least one recipient.")})
        return cleaned

    def recipients(self, config: dict[str, Any], record: Any, org: Any) -> list[int]:
        wanted: list[int] = list(config.get("users") or [])
        if config.get("roles"):
            wanted += list(Membership.objects.filter(org=org, org_role_id__in=config["roles"], is_active=True)
                           .order_by("user_id").values_list("user_id", flat=True))
        owner_id = getattr(record, "owner_id", None)
        if config.get("owner") and owner_id:
            wanted.append(owner_id)
        if config.get("manager") and owner_id:
            role = (Membership.objects.filter(org=org, user_id=owner_id).select_related("org_role")
                    .values_list("org_role__parent_id", flat=True).first())
            if role:
                wanted += list(Membership.objects.filter(org=org, org_role_id=role, is_active=True)
                               .order_by("user_id").values_list("user_id", flat=True))
        if config.get("requester") and getattr(record, "requested_by_id", None):
            wanted.append(record.requested_by_id)
        return list(dict.fromkeys(wanted))

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        org = context.schema.org
        ids = self.recipients(config, context.record, org)
        names = _names(org, ids)
        people = ", ".join(names.get(pk, f"#{pk}") for pk in ids) or _("nobody (no such person for this record)")
        return _("Notify %(people)s: “%(message)s”") % {
            "people": people, "message": merge(config.get("message", ""), context.schema, context.record)}

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        ids = self.recipients(config, context.record, context.schema.org)
        params = {"rule": context.rule.name, "message": merge(config.get("message", ""), context.schema, context.record),
                  "record": str(context.record)}
        count = notify_users(context.schema.org.pk, ids, RULE_NOTICE, context.schema.key, context.record.pk,
                             context.key, params=params)
        return _("%(count)d of %(total)d people notified") % {"count": count, "total": len(ids)}


# --- create a task ------------------------------------------------------------------------------

class CreateTask:
    """A task in the org's "tasks" module, related to the record."""

    type = "create_task"
    stage = MESSAGES_AND_RECORDS

    def label(self) -> str:
        return _("Create a task")

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        subject = str(config.get("subject") or "").strip()
        if not subject:
            raise ValidationError({"subject": _("Write the task's subject.")})
        if len(subject) > 255:
            raise ValidationError({"subject": _("At most %(max)d characters.") % {"max": 255}})
        problem = _merge_problem(subject, schema)
        if problem:
            raise ValidationError({"subject": problem})
        due = config.get("due_in_days")
        if due in (None, ""):
            due = None
        else:
            try:
                due = int(due)
            except (TypeError, ValueError):
                raise ValidationError({"due_in_days": _("Enter a whole number of days.")})
            if not 0 <= due <= 3650:
                raise ValidationError({"due_in_days": _("Between 0 and 3650 days.")})
        owner = str(config.get("owner") or "record_owner")
        if owner not in ("record_owner", "rule_author"):
            if not owner.isdigit() or not Membership.objects.filter(org=org, user_id=int(owner), is_active=True).exists():
                raise ValidationError({"owner": _("Choose an active user of this organisation.")})
        return {"subject": subject, "due_in_days": due, "owner": owner}

    def _owner(self, config: dict[str, Any], context: ActionContext) -> User:
        owner = config.get("owner") or "record_owner"
        if owner == "rule_author":
            return context.actor
        user_id = getattr(context.record, "owner_id", None) if owner == "record_owner" else int(owner)
        user = User.objects.filter(pk=user_id, memberships__org=context.schema.org, memberships__is_active=True).first()
        return user or context.actor

    def _due(self, config: dict[str, Any]) -> Any:
        days = config.get("due_in_days")
        return None if days is None else timezone.localdate() + dt.timedelta(days=int(days))

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        due = self._due(config)
        return _("Create the task “%(subject)s” for %(owner)s, due %(due)s") % {
            "subject": merge(config.get("subject", ""), context.schema, context.record),
            "owner": self._owner(config, context), "due": due.isoformat() if due else _("(no date)")}

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        subject = merge(config.get("subject", ""), context.schema, context.record)[:255]
        due = self._due(config)
        try:
            task = crm_actions.do_create_record("tasks", {"subject": subject, "due_date": due}, actor=context.actor,
                                                path=context.path, owner=self._owner(config, context))
            crm_actions.do_link_task(task, context.record, actor=context.actor, path=context.path)
        except (ValidationError, PermissionDenied) as exc:
            raise _as_refusal(exc)
        return _("Task “%(subject)s” created (#%(id)d)") % {"subject": subject, "id": task.pk}


# --- create a record in another module ----------------------------------------------------------

def _target(config: dict[str, Any], org: Any) -> Any:
    from django.http import Http404

    try:
        return get_module(str(config.get("module") or ""), org).bind(org)
    except Http404:
        return None


class CreateRecord:
    """A record in another module (e.g. an onboarding request in a service team's module): values
    from constants or the source record's fields ("{{field}}"), and a lookup back to the source
    when the target has a lookup field to the source's module."""

    type = "create_record"
    stage = MESSAGES_AND_RECORDS

    def label(self) -> str:
        return _("Create a record in another module")

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        target = _target(config, org)
        if target is None:
            raise ValidationError({"module": _("Choose a module of this organisation.")})
        values = config.get("values") or {}
        if not isinstance(values, dict):
            raise ValidationError({"values": _("Give the values as “field: value” lines.")})
        cleaned: dict[str, str] = {}
        for key, raw in values.items():
            if not target.has_field(str(key)) or not target.field(str(key)).editable:
                raise ValidationError({"values": _("“%(field)s” is not a field of %(module)s that can be set.")
                                       % {"field": key, "module": target.label_plural}})
            spec = target.field(str(key))
            text = str(raw if raw is not None else "")
            problem = _merge_problem(text, schema)
            if problem:
                raise ValidationError({"values": problem})
            if not MERGE.search(text):
                try:
                    spec.field_type.clean(text, spec)
                except ValidationError as exc:
                    raise ValidationError({"values": f"{spec.label}: {' '.join(exc.messages)}"})
            cleaned[spec.key] = text
        links = [spec.key for spec in target.fields if spec.type == "lookup" and spec.target == schema.key
                 and spec.editable]
        link = str(config.get("link_field") or (links[0] if links else ""))
        if link and link not in links:
            raise ValidationError({"link_field": _("Choose a lookup field of %(module)s to %(source)s.")
                                   % {"module": target.label_plural, "source": schema.label_plural}})
        title = target.field(target.title_field)
        if not cleaned.get(title.key) and not (link and link == title.key):
            raise ValidationError({"values": _("Give a value for “%(field)s”.") % {"field": title.label}})
        return {"module": target.key, "values": cleaned, "link_field": link}

    def data(self, config: dict[str, Any], context: ActionContext, target: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        source = context.schema
        for key, text in (config.get("values") or {}).items():
            whole = MERGE.fullmatch(text.strip())
            if whole and source.has_field(whole.group(1)):  # the value itself, typed (a date, a user)
                data[key] = source.field(whole.group(1)).get_value(context.record)
            else:
                data[key] = merge(text, source, context.record)
        if config.get("link_field"):
            data[config["link_field"]] = context.record.pk
        return data

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        target = _target(config, context.schema.org)
        if target is None:
            return _("Create a record in a module that no longer exists")
        data = self.data(config, context, target)
        shown = ", ".join(f"{target.field(k).label} = {show_value(target, target.field(k), v)}"
                          for k, v in data.items() if target.has_field(k))
        return _("Create a record in %(module)s: %(values)s") % {"module": target.label_plural, "values": shown}

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        target = _target(config, context.schema.org)
        if target is None:
            raise ActionError(_("The module to create the record in no longer exists."))
        data = self.data(config, context, target)
        try:
            team_module = getattr(target, "team_module", None)
            if team_module is not None and target.is_requester_only(context.actor):
                from teams.actions import do_submit_request

                record = do_submit_request(team_module, data, actor=context.actor, path=context.path)
            else:
                record = crm_actions.do_create_record(target, data, actor=context.actor, path=context.path)
        except (ValidationError, PermissionDenied) as exc:
            raise _as_refusal(exc)
        return _("Created “%(name)s” in %(module)s (#%(id)d)") % {"name": record, "module": target.label_plural,
                                                                 "id": record.pk}


# --- assign by an assignment rule -----------------------------------------------------------------

class AssignByRule:
    """Run one assignment rule of the module on the record (`automation.assignment.assign_record`)."""

    type = "assign"
    stage = MESSAGES_AND_RECORDS

    def label(self) -> str:
        return _("Assign by an assignment rule")

    def _rule(self, rule_id: Any, org: Any, module: str) -> Any:
        from .rule_kinds import rule_model

        rule_class = rule_model("assignment")
        if rule_class is None or not str(rule_id or "").isdigit():
            return None
        return rule_class.objects.filter(org=org, module=module, pk=int(rule_id)).first()

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        rule = self._rule(config.get("rule"), org, schema.key)
        if rule is None:
            raise ValidationError({"rule": _("Choose an assignment rule of this module.")})
        return {"rule": rule.pk}

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        rule = self._rule(config.get("rule"), context.schema.org, context.schema.key)
        if rule is None:
            return _("Assign by an assignment rule that no longer exists")
        return _("Assign by the assignment rule “%(name)s”") % {"name": rule}

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        rule = self._rule(config.get("rule"), context.schema.org, context.schema.key)
        if rule is None:
            raise ActionError(_("The assignment rule no longer exists."))
        try:
            return str(assign_record(rule, context.record.pk, trigger="workflow", key=context.key,
                                     depth=context.event.depth if context.event is not None else 0) or "")
        except (ValidationError, PermissionDenied) as exc:
            raise _as_refusal(exc)


for _kind in (FieldUpdate(), Notify(), CreateTask(), CreateRecord(), AssignByRule()):
    register_action(_kind)
