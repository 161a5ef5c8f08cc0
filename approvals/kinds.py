"""The automation action kind "submit_for_approval" (settings: the process): a workflow rule's or
a blueprint's after-actions submit the record for approval, acting as their author."""
from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from automation.workflow_actions import MESSAGES_AND_RECORDS, ActionContext, ActionError, register_action


class ProcessChoiceForm(forms.Form):
    """The settings of the action in a rule's or a blueprint's action editor: the process."""

    process = forms.ChoiceField(label=gettext_lazy("Approval process"))

    def __init__(self, *args: Any, schema: Any, org: Any, **kwargs: Any) -> None:
        from .models import ApprovalProcess

        super().__init__(*args, **kwargs)
        self.fields["process"].choices = [("", "—")] + [
            (str(p.pk), p.name) for p in ApprovalProcess.objects.filter(org=org, module=schema.key).order_by("position", "pk")]

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"process": str(config.get("process") or "")}

    def config(self) -> dict[str, Any]:
        return {"process": self.cleaned_data.get("process")}


class SubmitForApproval:
    type = "submit_for_approval"
    stage = MESSAGES_AND_RECORDS
    form_class = ProcessChoiceForm

    def label(self) -> str:
        return _("Submit for approval")

    def _process(self, process_id: Any, org: Any, module: str) -> Any:
        from .models import ApprovalProcess

        from config.params import optional_id

        process_id = optional_id(process_id)
        return ApprovalProcess.objects.filter(org=org, module=module, pk=process_id).first() if process_id else None

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        process = self._process(config.get("process"), org, schema.key)
        if process is None:
            raise ValidationError({"process": _("Choose an approval process of this module.")})
        return {"process": process.pk}

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        process = self._process(config.get("process"), context.schema.org, context.schema.key)
        if process is None:
            return _("Submit for approval by a process that no longer exists")
        return _("Submit for approval by “%(process)s”") % {"process": process.name}

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        from crm.actions import RecordValidationError

        from .actions import do_submit_for_approval

        process = self._process(config.get("process"), context.schema.org, context.schema.key)
        if process is None:
            raise ActionError(_("The approval process no longer exists."))
        try:
            do_submit_for_approval(context.record, actor=context.actor, path=context.path, process=process.pk,
                                   schema=context.schema)
        except RecordValidationError as exc:
            raise ActionError(" ".join(" ".join(m) for m in exc.message_dict.values()))
        except PermissionDenied as exc:
            raise ActionError(str(exc))
        return _("Submitted for approval by “%(process)s”") % {"process": process.name}


register_action(SubmitForApproval())
