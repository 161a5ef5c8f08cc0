"""Settings pages of e-mail templates (/settings/automation/email-templates/): list, create,
edit, delete and a preview against a chosen record.

Org administrators manage every template; team managers those of their team modules; anyone else
(and any other org's template) gets 404."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.settings_forms import apply_errors
from access.visibility import get_record, is_org_admin, visible
from crm.modules import get_module

from . import mail_actions
from .mail_models import EmailTemplate
from .mail_render import available_fields, check_template, generic_fields, merge_values, render as render_template
from .settings_views import AutomationSettingsView, configurable_modules

PREVIEW_CHOICES = 50  # latest records offered in the preview's picker


class EmailTemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    module = forms.ChoiceField(label=gettext_lazy("Module"), required=False)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=255)
    body = forms.CharField(label=gettext_lazy("Body"), widget=forms.Textarea(attrs={"rows": 12}))

    def __init__(self, *args: Any, modules: list[Any], admin: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("Any module"))] if admin else []
        self.fields["module"].choices = choices + [(m.key, m.label_plural) for m in modules]

    def _template_text(self, key: str) -> str:
        text = self.cleaned_data.get(key, "")
        try:
            check_template(text, key)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict[key])
        return text

    def clean_subject(self) -> str:
        return self._template_text("subject")

    def clean_body(self) -> str:
        return self._template_text("body")


def _modules(request) -> list[Any]:
    modules = configurable_modules(request)
    if not modules:
        raise Http404
    return modules


def _template(request, pk: Any) -> EmailTemplate:
    """A template of the request's org the user may manage, or 404."""
    try:
        template = EmailTemplate.objects.get(org=request.org, pk=int(pk))
    except (EmailTemplate.DoesNotExist, TypeError, ValueError):
        raise Http404
    if not mail_actions.may_manage_templates(request.user, template.module):
        raise Http404
    return template


def _schema(request, key: str) -> Any | None:
    try:
        return get_module(key, request.org).bind(request.org) if key else None
    except Http404:
        return None


def _fields(request, module_key: str) -> list[Any]:
    schema = _schema(request, module_key)
    return available_fields(schema, request.user) if schema is not None else generic_fields()


class TemplateView(AutomationSettingsView):
    """A page of one template: the template is looked up before the method is, so a template
    someone may not manage is 404 whatever the method (never 405)."""

    def dispatch(self, request, *args, **kwargs):
        if (request.user.is_authenticated and getattr(request, "org", None) is not None
                and kwargs.get("template_pk") is not None):
            _modules(request)
            _template(request, kwargs["template_pk"])
        return super().dispatch(request, *args, **kwargs)


class EmailTemplateListView(AutomationSettingsView):
    def get(self, request):
        modules = {m.key: m for m in _modules(request)}
        keys = list(modules) + ([""] if is_org_admin(request.user) else [])
        templates = list(EmailTemplate.objects.filter(org=request.org, module__in=keys).order_by("name", "pk"))
        for template in templates:
            template.schema = modules.get(template.module)
        return render(request, "automation/email_templates.html", {"templates": templates})


class EmailTemplateFormView(TemplateView):
    """New (no pk) or existing template."""

    def setup_form(self, request, pk: Any, data=None):
        modules = _modules(request)
        template = _template(request, pk) if pk is not None else None
        initial = ({"name": template.name, "module": template.module, "subject": template.subject,
                    "body": template.body} if template else {"module": request.GET.get("module", "")})
        form = EmailTemplateForm(data, initial=initial, modules=modules, admin=is_org_admin(request.user))
        return template, form

    def show(self, request, template, form, status=200):
        module_key = (form.data.get("module") if form.is_bound else form.initial.get("module")) or ""
        return render(request, "automation/email_template_form.html",
                      {"template": template, "form": form, "merge_fields": _fields(request, module_key)},
                      status=status)

    def get(self, request, template_pk=None):
        template, form = self.setup_form(request, template_pk)
        return self.show(request, template, form)

    def post(self, request, template_pk=None):
        template, form = self.setup_form(request, template_pk, request.POST)
        if form.is_valid():
            try:
                if template is None:
                    template = mail_actions.do_create_email_template(form.cleaned_data, actor=request.user)
                else:
                    mail_actions.do_update_email_template(template, form.cleaned_data, actor=request.user)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("E-mail template “%(name)s” saved.") % {"name": template.name})
                return redirect("automation:email_templates")
        return self.show(request, template, form, status=400)


class EmailTemplateDeleteView(TemplateView):
    def post(self, request, template_pk):
        template = _template(request, template_pk)
        mail_actions.do_delete_email_template(template, actor=request.user)
        messages.success(request, _("E-mail template “%(name)s” deleted.") % {"name": template.name})
        return redirect("automation:email_templates")


class EmailTemplatePreviewView(TemplateView):
    """The template rendered for one record the user may see, as the user sees it."""

    def get(self, request, template_pk):
        template = _template(request, template_pk)
        modules = [m for m in _modules(request) if not template.module or m.key == template.module]
        module_key = template.module or request.GET.get("module") or modules[0].key
        schema = next((m for m in modules if m.key == module_key), None)
        if schema is None:
            raise Http404
        schema = schema.bind(request.org)
        choices = list(visible(request.user, schema).order_by("-pk")[:PREVIEW_CHOICES])
        record, rendered, error = None, None, ""
        record_id = request.GET.get("record") or (choices[0].pk if choices else None)
        if record_id:
            record = get_record(request.user, schema, record_id)
            try:
                rendered = render_template(template.subject, template.body,
                                           merge_values(schema, record, request.user), _("(rule name)"))
            except ValidationError as exc:  # a template saved before a check tightened
                error = " ".join(exc.messages)
        return render(request, "automation/email_template_preview.html",
                      {"template": template, "modules": modules, "module": schema, "choices": choices,
                       "record": record, "rendered": rendered, "error": error,
                       "form_url": reverse("automation:email_template", args=[template.pk])})
