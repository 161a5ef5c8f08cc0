"""Org settings pages for modules: custom fields and org-wide defaults (administrators only)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from access.actions import do_set_org_default, do_set_public_fields
from access.models import OrgWideDefault
from access.visibility import is_org_admin, org_default

from . import actions
from .forms import FieldDefinitionForm
from .models import FieldDefinition
from .modules import get_module, org_modules


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
        rows = [{"module": m, "level": org_default(request.org, m)} for m in org_modules()]
        return render(request, "crm/settings_modules.html", {"rows": rows, "levels": OrgWideDefault.Level.choices})

    def post(self, request):
        for module in org_modules():
            level = request.POST.get(f"level_{module.key}")
            if level and level != org_default(request.org, module):
                do_set_org_default(request.org, module.key, level, actor=request.user)
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
        })

    def post(self, request, module):
        if request.POST.get("op") == "public":
            bound = get_module(module, request.org).bind(request.org)
            do_set_public_fields(request.org, module, request.POST.getlist("public"), actor=request.user,
                                 known_field_keys=[f.key for f in bound.fields])
            messages.success(request, _("Public fields saved."))
            return redirect("crm:settings_fields", module=module)
        definition = _definition(request, module, request.POST.get("field"))
        op = request.POST.get("op")
        if op in ("up", "down"):
            actions.do_move_field(definition, -1 if op == "up" else 1, actor=request.user)
        elif op in ("retire", "restore"):
            actions.do_set_field_retired(definition, op == "retire", actor=request.user)
            messages.success(request, _("Field retired; its data is kept.") if op == "retire"
                             else _("Field restored."))
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
    """Hand a (usually deactivated) user's records to someone else: all, or one module by criteria."""

    template_name = "crm/settings_reassign.html"

    def setup_view(self, request, membership_pk):
        from access.models import Membership

        self.membership = Membership.objects.select_related("user").filter(org=request.org, pk=membership_pk).first()
        if self.membership is None:
            raise Http404

    def context(self, request, **extra):
        from .forms import org_members

        counts = [(m, m.bind(request.org).base_queryset(request.org)
                   .filter(owner=self.membership.user, deleted_at__isnull=True).count()) for m in org_modules()]
        return {"membership": self.membership, "counts": counts, "members": org_members(request.org)
                .exclude(pk=self.membership.user_id), "modules": org_modules(), **extra}

    def get(self, request, membership_pk):
        self.setup_view(request, membership_pk)
        return render(request, self.template_name, self.context(request))

    def post(self, request, membership_pk):
        import json

        from .criteria import CriteriaError, to_q

        self.setup_view(request, membership_pk)
        module_key = request.POST.get("module") or ""
        modules = org_modules() if not module_key else [get_module(module_key, request.org)]
        errors = []
        criteria = None
        if request.POST.get("criteria", "").strip():
            if not module_key:
                errors.append(_("Choose a module to filter by criteria."))
            else:
                try:
                    criteria = json.loads(request.POST["criteria"])
                    to_q(criteria, modules[0].bind(request.org))
                except (ValueError, CriteriaError) as exc:
                    errors.append(_("Criteria: %(reason)s") % {"reason": " ".join(getattr(exc, "messages", [str(exc)]))})
        new_owner = request.POST.get("owner") or ""
        if not new_owner.isdigit():
            errors.append(_("Choose the new owner."))
        if errors:
            return render(request, self.template_name, self.context(request, errors=errors), status=400)
        moved = 0
        try:
            for module in modules:
                schema = module.bind(request.org)
                rows = schema.base_queryset(request.org).filter(owner=self.membership.user, deleted_at__isnull=True)
                if criteria:
                    rows = rows.filter(to_q(criteria, schema))
                ids = list(rows.values_list("pk", flat=True))
                if ids:
                    moved += len(actions.do_bulk_change_owner(schema, ids, int(new_owner), actor=request.user,
                                                              path="page"))
        except (PermissionDenied, actions.RecordValidationError, actions.ConflictError) as exc:
            return render(request, self.template_name, self.context(request, errors=[str(exc.args[0] if exc.args else exc)]),
                          status=400)
        messages.success(request, _("%(count)d records reassigned.") % {"count": moved})
        return redirect("crm:settings_reassign", membership_pk=self.membership.pk)
