"""Org settings pages for modules: custom fields and org-wide defaults (administrators only)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from access.actions import do_set_org_default, do_set_public_fields
from access.models import OrgWideDefault
from access.visibility import is_org_admin, org_default
from config.params import parse_id

from . import actions
from .criteria import to_q
from .forms import FieldDefinitionForm, ReassignForm
from .guards import GuardRefusal
from .models import FieldDefinition
from .modules import get_module, module_links, org_modules


class AdminView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not is_org_admin(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class ModuleSettingsView(AdminView):
    """Org-wide defaults for every module."""

    def get(self, request):
        rows = [{"module": m, "level": org_default(request.org, m), "links": module_links(request.user, m)}
                for m in org_modules()]
        return render(request, "crm/settings_modules.html", {"rows": rows, "levels": OrgWideDefault.Level.choices})

    def post(self, request):
        changes = {}
        for module in org_modules():
            level = request.POST.get(f"level_{module.key}")
            if level and level not in OrgWideDefault.Level.values:  # checked for all before any is saved
                messages.error(request, _("Unknown access level for %(module)s; nothing was saved.")
                               % {"module": module.label_plural})
                return redirect("crm:settings_modules")
            if level and level != org_default(request.org, module):
                changes[module.key] = level
        for key, level in changes.items():
            do_set_org_default(request.org, key, level, actor=request.user)
        messages.success(request, _("Sharing defaults saved."))
        return redirect("crm:settings_modules")


class FieldListView(AdminView):
    def get(self, request, module):
        schema_module = get_module(module, request.org)
        definitions = FieldDefinition.objects.filter(org=request.org, module=module).order_by("order", "pk")
        bound = schema_module.bind(request.org)
        return render(request, "crm/settings_fields.html", {
            "module": schema_module, "core_fields": schema_module.core_fields, "definitions": definitions,
            "modules": org_modules(), "public_keys": {f.key for f in bound.public_fields()},
            "module_links": module_links(request.user, schema_module),
        })

    def post(self, request, module):
        if request.POST.get("op") == "public":
            bound = get_module(module, request.org).bind(request.org)
            do_set_public_fields(request.org, module, request.POST.getlist("public"), actor=request.user,
                                 known_field_keys=[f.key for f in bound.fields])
            messages.success(request, _("Public fields saved."))
            return redirect("crm:settings_fields", module=module)
        definition = _definition(request, module, parse_id(request.POST.get("field"), "field"))
        op = request.POST.get("op")
        if op in ("up", "down"):
            actions.do_move_field(definition, -1 if op == "up" else 1, actor=request.user)
        elif op in ("retire", "restore"):
            actions.do_set_field_retired(definition, op == "retire", actor=request.user)
            messages.success(request, _("Field retired; its data is kept.") if op == "retire"
                             else _("Field restored."))
        elif op == "reindex":
            actions.do_rebuild_field_index(definition, actor=request.user)
            messages.success(request, _("The index is being built again."))
        return redirect("crm:settings_fields", module=module)


def _definition(request, module: str, pk) -> FieldDefinition:
    try:
        return FieldDefinition.objects.get(org=request.org, module=module, pk=int(pk))
    except (FieldDefinition.DoesNotExist, TypeError, ValueError):
        raise Http404


def org_targets() -> list[tuple[str, str]]:
    return [(m.key, m.label_plural) for m in org_modules()]


class FieldFormView(AdminView):
    template_name = "crm/settings_field_form.html"

    def get(self, request, module, pk=None):
        schema_module = get_module(module, request.org)
        definition = _definition(request, module, pk) if pk else None
        initial = {}
        if definition:
            initial = {"label_en": definition.label_en, "label_zh": definition.label_zh,
                       "api_name": definition.api_name, "field_type": definition.field_type,
                       "target": definition.target,
                       "required": definition.required, "help_text": definition.help_text,
                       "default": "" if definition.default is None else definition.default,
                       "options": FieldDefinitionForm.options_text(definition.options)}
        form = FieldDefinitionForm(initial=initial, editing=definition is not None, targets=org_targets())
        return render(request, self.template_name, {"form": form, "module": schema_module, "definition": definition})

    def post(self, request, module, pk=None):
        schema_module = get_module(module, request.org)
        definition = _definition(request, module, pk) if pk else None
        form = FieldDefinitionForm(request.POST, editing=definition is not None, targets=org_targets())
        if form.is_valid():
            data = form.cleaned_data
            try:
                if definition is None:
                    actions.do_create_field(
                        request.org, module, api_name=data["api_name"], label_en=data["label_en"],
                        label_zh=data["label_zh"], field_type=data["field_type"], required=data["required"],
                        default=data["default"] or None, options=form.parsed_options(), target=data["target"],
                        help_text=data["help_text"], actor=request.user)
                else:
                    actions.do_update_field(
                        definition, label_en=data["label_en"], label_zh=data["label_zh"], required=data["required"],
                        default=data["default"] or None,
                        options=form.parsed_options() if definition.field_type in ("picklist", "multi_select")
                        else None,
                        help_text=data["help_text"], actor=request.user)
                messages.success(request, _("Field saved."))
                return redirect("crm:settings_fields", module=module)
            except actions.RecordValidationError as exc:
                for key, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(key if key in form.fields else None, error)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
        return render(request, self.template_name, {"form": form, "module": schema_module, "definition": definition},
                      status=400)


class ReassignView(AdminView):
    """Hand a (usually deactivated) user's records to someone else: every module's, or one
    module's matching criteria rows. The module is chosen first (`?module=<key>`), so the rows
    offer that module's fields. Everything moves in one transaction, or nothing does."""

    template_name = "crm/settings_reassign.html"

    def setup_view(self, request, membership_pk, data=None) -> None:
        from access.models import Membership

        self.membership = Membership.objects.select_related("user").filter(org=request.org, pk=membership_pk).first()
        if self.membership is None:
            raise Http404
        key = (request.POST if data is not None else request.GET).get("module") or ""
        modules = {m.key: m for m in org_modules()}
        if key and key not in modules:
            raise Http404
        self.module = modules.get(key)
        self.schema = self.module.bind(request.org) if self.module else None
        self.form = ReassignForm(data, org=request.org, schema=self.schema, from_user=self.membership.user)

    def owned(self, request, module):
        """The records the user owns in a module (an admin-only page: the org's rows, not deleted)."""
        return module.base_queryset(request.org).filter(owner=self.membership.user, deleted_at__isnull=True)

    def render_page(self, request, status=200, **extra):
        counts = [(m, self.owned(request, m).count()) for m in org_modules()]
        return render(request, self.template_name, {
            "membership": self.membership, "counts": counts, "total": sum(count for _m, count in counts),
            "modules": org_modules(), "module": self.module, "form": self.form, **extra}, status=status)

    def get(self, request, membership_pk):
        self.setup_view(request, membership_pk)
        return self.render_page(request)

    def post(self, request, membership_pk):
        self.setup_view(request, membership_pk, request.POST)
        if not self.form.is_valid():
            return self.render_page(request, errors=self.form.problems(), status=400)
        criteria = self.form.cleaned_data.get("criteria")
        modules = [self.module] if self.module else org_modules()
        if request.POST.get("op") == "preview":
            return self.render_page(request, preview=sum(self.matching(request, m, criteria) for m in modules))
        try:
            moved = actions.do_reassign_records(self.membership.user, self.form.cleaned_data["owner"].pk,
                                                modules=[m.key for m in modules], criteria=criteria,
                                                actor=request.user, path="page")
        except (PermissionDenied, actions.RecordValidationError, actions.ConflictError) as exc:
            return self.render_page(request, errors=[_("Nothing was reassigned."), *refusal_lines(exc)], status=400)
        count = sum(moved.values())
        messages.success(request, ngettext("%(count)d record reassigned.", "%(count)d records reassigned.", count)
                         % {"count": count})
        url = reverse("crm:settings_reassign", args=[self.membership.pk])
        return redirect(f"{url}?module={self.module.key}" if self.module else url)

    def matching(self, request, module, criteria) -> int:
        rows = self.owned(request, module)
        if criteria is not None:
            rows = rows.filter(to_q(criteria, self.schema))  # criteria come with exactly one module
        return rows.count()


def refusal_lines(exc: Exception) -> list[str]:
    """What an action's refusal says; a guard's refusal also names the record it stopped at."""
    if isinstance(exc, actions.RecordValidationError):
        return exc.messages
    if isinstance(exc, GuardRefusal) and exc.context is not None and getattr(exc.context.record, "pk", None):
        return [_("%(module)s “%(record)s”: %(reason)s") % {
            "module": exc.context.module.label, "record": exc.context.record, "reason": exc}]
    return [str(exc)]
