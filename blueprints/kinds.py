"""Automation action kinds blueprints add to the registry (`automation.workflow_actions`), so any
process picks them like the others:

- "blueprint_transition": do a transition of a blueprint on the record, as the process's actor
  (an approval's final action: "on approval, run transition X"). Config: the blueprint's key and
  the transition's key (both stable across versions), so it finds the transition in whichever
  version the record is in.
- "lock_record": lock the record by hand (locking's manual lock), with a reason."""
from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from automation.workflow_actions import MESSAGES_AND_RECORDS, ActionContext, ActionError, register_action

from .models import Blueprint, Transition


def _errors(exc: Exception) -> ActionError:
    if isinstance(exc, ValidationError):
        return ActionError(" ".join(exc.messages))
    return ActionError(str(exc.args[0]) if exc.args else str(exc))


class TransitionChoiceForm(forms.Form):
    transition = forms.ChoiceField(label=gettext_lazy("Transition"))

    def __init__(self, *args: Any, schema: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rows = (Transition.objects.filter(org=org, blueprint__module=schema.key)
                .exclude(blueprint__status=Blueprint.Status.DEACTIVATED).select_related("blueprint")
                .order_by("blueprint__name", "-blueprint__version", "position"))
        seen, choices = set(), [("", "—")]
        for row in rows:
            value = f"{row.blueprint.key}:{row.key}"
            if value not in seen:
                seen.add(value)
                choices.append((value, f"{row.blueprint.name}: {row.name}"))
        self.fields["transition"].choices = choices

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"transition": f"{config.get('blueprint', '')}:{config.get('transition', '')}"}

    def config(self) -> dict[str, Any]:
        blueprint, _sep, transition = (self.cleaned_data.get("transition") or "").partition(":")
        return {"blueprint": blueprint, "transition": transition}


class RunTransition:
    type = "blueprint_transition"
    stage = MESSAGES_AND_RECORDS
    form_class = TransitionChoiceForm

    def label(self) -> str:
        return _("Run a blueprint transition")

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        blueprint, transition = str(config.get("blueprint") or ""), str(config.get("transition") or "")
        if not Transition.objects.filter(org=org, blueprint__module=schema.key, blueprint__key=blueprint,
                                         key=transition).exists():
            raise ValidationError({"transition": _("Choose a transition of a blueprint of this module.")})
        return {"blueprint": blueprint, "transition": transition}

    def _transition(self, config: dict[str, Any], context: ActionContext) -> Transition | None:
        from .selectors import governing

        governed = governing(context.schema, context.record, memo=False)
        if governed is None or governed.blueprint.key != config.get("blueprint"):
            return None
        return next((t for t in governed.transitions if t.key == config.get("transition")), None)

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        transition = self._transition(config, context)
        if transition is None:
            return _("Run a blueprint transition the record is not at")
        return _("Run the transition “%(name)s”") % {"name": transition.name}

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        from .actions import do_transition

        transition = self._transition(config, context)
        if transition is None:
            raise ActionError(_("The record is not in that blueprint, or the transition is not in its version."))
        try:
            do_transition(context.record, transition, actor=context.actor, path=context.path, system=True)
        except (ValidationError, PermissionDenied) as exc:
            raise _errors(exc)
        return _("Transition “%(name)s” done") % {"name": transition.name}


class LockReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=1000)

    def __init__(self, *args: Any, schema: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"reason": config.get("reason", "")}

    def config(self) -> dict[str, Any]:
        return {"reason": self.cleaned_data.get("reason", "")}


class LockRecord:
    type = "lock_record"
    stage = MESSAGES_AND_RECORDS
    form_class = LockReasonForm

    def label(self) -> str:
        return _("Lock the record")

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        reason = str(config.get("reason") or "").strip()
        if len(reason) > 1000:
            raise ValidationError({"reason": _("At most %(max)d characters.") % {"max": 1000}})
        return {"reason": reason}

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        return _("Lock the record")

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        from locking.actions import do_lock_record

        try:
            do_lock_record(context.record, config.get("reason", ""), actor=context.actor, path=context.path)
        except (ValidationError, PermissionDenied) as exc:
            raise _errors(exc)
        return _("Record locked")


def register() -> None:
    register_action(RunTransition())
    register_action(LockRecord())
