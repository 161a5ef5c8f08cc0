"""Team spaces, the module builder and the Requests tab."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from access.decisions import module_field_rules
from access.visibility import is_org_admin, visible
from config.params import parse_id, parse_ids
from crm import actions as crm_actions
from crm import form_tokens
from crm.file_forms import file_url
from crm.forms import FieldDefinitionForm, RecordForm, org_members
from crm.models import Attachment, FieldDefinition
from crm.modules import org_modules

from . import actions, roles
from .forms import MemberForm, SpaceForm, TeamFieldForm, TeamModuleForm
from .guards import requester_writable
from .models import Requester, TeamModule, TeamRecord, TeamSpace
from .schema import schema_for


class TeamView(LoginRequiredMixin, View):
    # Who the page exists for; everyone else gets the same 404 as for a missing id, whatever
    # the method: "member" (of the space), "manager", "requester" (of the module) or None.
    audience: str | None = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.space = self.module = None
        if "space_pk" in kwargs:
            self.space = TeamSpace.objects.filter(org=request.org, pk=kwargs["space_pk"]).first()
            if self.space is None:
                raise Http404
        if "module_pk" in kwargs:
            self.module = (TeamModule.objects.select_related("space", "due_field")
                           .filter(org=request.org, pk=kwargs["module_pk"]).first())
            if self.module is None:
                raise Http404
            self.space = self.module.space
        if not self.admits(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def admits(self, user) -> bool:
        if self.audience == "manager":
            return roles.is_manager(user, self.space.pk)
        if self.audience == "member":
            return roles.role_in(user, self.space.pk) is not None or roles.is_team_modules_admin(user)
        if self.audience == "requester":
            return not self.module.retired and self.module.pk in roles.requested_modules(user)
        return True

    def refuse(self, exc: Exception) -> None:
        from crm.views import reason_of

        messages.error(self.request, reason_of(exc))


def spaces_for(user) -> Any:
    """Spaces the user belongs to (all of them for administrators and team-modules admins)."""
    spaces = TeamSpace.objects.filter(org=user.org).order_by("name_en")
    if roles.is_team_modules_admin(user):
        return spaces
    return spaces.filter(pk__in=list(roles.team_roles(user)))


class SpaceListView(TeamView):
    def get(self, request, form=None):
        return render(request, "teams/spaces.html", {
            "spaces": spaces_for(request.user).annotate(
                module_count=Count("modules", filter=Q(modules__retired=False), distinct=True),
                member_count=Count("members", distinct=True)),
            "roles": roles.team_roles(request.user),
            "form": form or (SpaceForm(org=request.org) if is_org_admin(request.user) else None),
        })

    def post(self, request):
        if not is_org_admin(request.user):
            raise Http404
        form = SpaceForm(request.POST, org=request.org)
        if form.is_valid():
            data = form.cleaned_data
            try:
                space = actions.do_create_space(request.org, name_en=data["name_en"], name_zh=data["name_zh"],
                                                description=data["description"],
                                                manager_ids=[u.pk for u in data["managers"]], actor=request.user)
                messages.success(request, _("Team space created."))
                return redirect("teams:space", space_pk=space.pk)
            except crm_actions.RecordValidationError as exc:
                for key, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(key if key in form.fields else None, error)
        response = self.get(request, form)
        response.status_code = 400
        return response


class SpaceView(TeamView):
    audience = "member"

    def get(self, request, space_pk):
        user = request.user
        role = roles.role_in(user, self.space.pk)
        manager = roles.is_manager(user, self.space.pk)
        modules = self.space.modules.filter(retired=False).order_by("name_en")
        if manager:
            modules = self.space.modules.order_by("retired", "name_en")
        members = self.space.members.select_related("user").order_by("role", "user__first_name")
        return render(request, "teams/space.html", {
            "space": self.space, "modules": modules, "members": members, "role": role, "is_manager": manager,
            "member_form": MemberForm(org=request.org) if manager else None,
            "can_see_dashboard": manager or roles.is_team_modules_admin(user),
        })


class MembersView(TeamView):
    audience = "manager"
    def post(self, request, space_pk):
        try:
            if request.POST.get("op") == "remove":
                actions.do_remove_team_member(self.space, parse_id(request.POST.get("user"), "user"),
                                              actor=request.user)
                messages.success(request, _("Removed from the team."))
            else:
                form = MemberForm(request.POST, org=request.org)
                if not form.is_valid():
                    messages.error(request, _("Choose a user and a team role."))
                else:
                    actions.do_set_team_member(self.space, form.cleaned_data["user"].pk, form.cleaned_data["role"],
                                               actor=request.user)
                    messages.success(request, _("Team member saved."))
        except (PermissionDenied, crm_actions.RecordValidationError) as exc:
            self.refuse(exc)
        return redirect("teams:space", space_pk=self.space.pk)


class ModuleSettingsView(TeamView):
    audience = "manager"
    """Create a team module or change its name, icon and statuses."""

    def form_for(self, data=None):
        date_fields = []
        initial = {"icon": "kanban", "statuses": "requested | Requested | 已请求 | #6c757d\n"
                                                 "in_progress | In progress | 进行中 | #0d6efd\n"
                                                 "done | Done | 完成 | #198754",
                   "manager_only_statuses": "done", "done_statuses": "done"}
        if self.module is not None:
            module = self.module
            date_fields = list(FieldDefinition.objects.filter(org=module.org, module=module.key, field_type="date",
                                                              retired=False))
            initial = {"name_en": module.name_en, "name_zh": module.name_zh, "icon": module.icon,
                       "name_singular_en": module.name_singular_en, "name_singular_zh": module.name_singular_zh,
                       "statuses": FieldDefinitionForm.options_text(module.statuses),
                       "manager_only_statuses": ", ".join(module.manager_only_statuses),
                       "done_statuses": ", ".join(module.done_statuses), "due_field": module.due_field_id}
        return TeamModuleForm(data, initial=initial, date_fields=date_fields)

    def get(self, request, space_pk=None, module_pk=None, form=None):
        return render(request, "teams/module_settings.html", {
            "space": self.space, "module": self.module, "form": form or self.form_for()})

    def post(self, request, space_pk=None, module_pk=None):
        if request.POST.get("op") in ("retire", "restore") and self.module is not None:
            actions.do_set_team_module_retired(self.module, request.POST["op"] == "retire", actor=request.user)
            return redirect("teams:space", space_pk=self.space.pk)
        form = self.form_for(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            settings = {"name_en": data["name_en"], "name_zh": data["name_zh"], "icon": data["icon"],
                        "name_singular_en": data["name_singular_en"], "name_singular_zh": data["name_singular_zh"],
                        "statuses": form.parsed_statuses(),
                        "manager_only_statuses": form.values(data["manager_only_statuses"]),
                        "done_statuses": form.values(data["done_statuses"])}
            try:
                if self.module is None:
                    module = actions.do_create_team_module(self.space, actor=request.user, **settings)
                    messages.success(request, _("Module created. Now add its fields."))
                    return redirect("teams:fields", module_pk=module.pk)
                actions.do_update_team_module(self.module, due_field_id=data["due_field"], actor=request.user,
                                              **settings)
                messages.success(request, _("Module saved."))
                return redirect("teams:fields", module_pk=self.module.pk)
            except crm_actions.RecordValidationError as exc:
                for key, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(key if key in form.fields else None, error)
        response = self.get(request, form=form)
        response.status_code = 400
        return response


def lookup_targets(org) -> list[tuple[str, str]]:
    targets = [(m.key, m.label_plural) for m in org_modules()]
    for module in TeamModule.objects.filter(org=org, retired=False).order_by("name_en"):
        targets.append((module.key, str(module)))
    return targets


class FieldsView(TeamView):
    audience = "manager"
    def get(self, request, module_pk):
        schema = schema_for(self.module)
        return render(request, "teams/fields.html", {
            "space": self.space, "module": self.module, "core_fields": schema.core_fields,
            "definitions": schema.definitions(request.org),
            "requesters": self.module.requesters.select_related("user").order_by("user__first_name"),
            "members": org_members(request.org),
        })

    def post(self, request, module_pk):
        definition = FieldDefinition.objects.filter(org=request.org, module=self.module.key,
                                                    pk=parse_id(request.POST.get("field"), "field")).first()
        if definition is None:
            raise Http404
        op = request.POST.get("op")
        if op in ("up", "down"):
            crm_actions.do_move_field(definition, -1 if op == "up" else 1, actor=request.user)
        elif op in ("retire", "restore"):
            crm_actions.do_set_field_retired(definition, op == "retire", actor=request.user)
        elif op == "reindex":
            crm_actions.do_rebuild_field_index(definition, actor=request.user)
            messages.success(request, _("The index is being built again."))
        return redirect("teams:fields", module_pk=self.module.pk)


class FieldFormView(TeamView):
    audience = "manager"
    template_name = "teams/field_form.html"

    def definition(self, pk):
        if pk is None:
            return None
        definition = FieldDefinition.objects.filter(org=self.request.org, module=self.module.key, pk=pk).first()
        if definition is None:
            raise Http404
        return definition

    def get(self, request, module_pk, pk=None):
        definition = self.definition(pk)
        initial = {}
        if definition:
            initial = {name: getattr(definition, name) for name in (
                "label_en", "label_zh", "api_name", "field_type", "target", "required", "help_text", "unique",
                "section", "shown_to_requesters", "in_list")}
            initial["default"] = "" if definition.default is None else definition.default
            initial["options"] = FieldDefinitionForm.options_text(definition.options)
        form = TeamFieldForm(initial=initial, editing=definition is not None, targets=lookup_targets(request.org))
        return render(request, self.template_name, {"form": form, "module": self.module, "definition": definition})

    def post(self, request, module_pk, pk=None):
        definition = self.definition(pk)
        form = TeamFieldForm(request.POST, editing=definition is not None, targets=lookup_targets(request.org))
        if form.is_valid():
            data = form.cleaned_data
            common = {"label_en": data["label_en"], "label_zh": data["label_zh"], "required": data["required"],
                      "default": data["default"] or None, "help_text": data["help_text"], "unique": data["unique"],
                      "section": data["section"], "shown_to_requesters": data["shown_to_requesters"],
                      "in_list": data["in_list"], "actor": request.user}
            try:
                if definition is None:
                    crm_actions.do_create_field(request.org, self.module.key, api_name=data["api_name"],
                                                field_type=data["field_type"], options=form.parsed_options(),
                                                target=data["target"], **common)
                else:
                    crm_actions.do_update_field(definition, field_type=data["field_type"],
                                                options=form.parsed_options() or None, **common)
                messages.success(request, _("Field saved."))
                return redirect("teams:fields", module_pk=self.module.pk)
            except crm_actions.RecordValidationError as exc:
                for key, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(key if key in form.fields else None, error)
        return render(request, self.template_name, {"form": form, "module": self.module, "definition": definition},
                      status=400)


class RequestersView(TeamView):
    audience = "manager"
    def post(self, request, module_pk):
        ids = parse_ids(request.POST.getlist("users"), "users")
        try:
            actions.do_set_requesters(self.module, ids, actor=request.user)
            messages.success(request, _("Requesters saved."))
        except (PermissionDenied, crm_actions.RecordValidationError) as exc:
            self.refuse(exc)
        return redirect("teams:fields", module_pk=self.module.pk)


class RequestsView(TeamView):
    """The Requests tab: modules the user may request from, and their own requests (those under
    review too: they are out of everyone's lists, not out of their requester's sight), each with
    its marks (e.g. under review, rejected) and a link to change it while the user may."""

    def get(self, request):
        from access.decisions import decide_many
        from crm.modules import row_marks

        user = request.user
        module_ids = set(Requester.objects.filter(org=request.org, user=user).values_list("module_id", flat=True))
        modules = list(TeamModule.objects.filter(org=request.org, pk__in=module_ids, retired=False)
                       .select_related("space").order_by("space__name_en", "name_en"))
        requests = []
        for module in modules:
            schema = schema_for(module).bind(request.org)
            rows = list(visible(user, schema, "view", listing=False).filter(requested_by=user)
                        .select_related("assignee").order_by("-modified_at")[:50])
            marks = row_marks(user, schema, rows)
            edits = decide_many(user, rows, "edit", schema=schema, path=actions.REQUEST_PATH, fields=False)
            labels = {s["value"]: s for s in module.statuses}
            files = [spec for spec in schema.fields_for(user) if spec.type == "file"]  # those shown to requesters
            requests.extend({"module": module, "record": row, "status": labels.get(row.status, {}),
                             "marks": marks.get(row.pk, []), "files": files,
                             "edit_url": reverse("teams:request_edit", args=[module.pk, row.pk])
                             if edits[row.pk].allowed else ""} for row in rows)
        requests.sort(key=lambda item: item["record"].modified_at, reverse=True)
        deliverables = self.deliverables({item["record"].pk: item["module"].key for item in requests})
        for item in requests:
            item["deliverables"] = self.field_files(item) + deliverables.get(item["record"].pk, [])
        return render(request, "teams/requests.html", {"modules": modules, "requests": requests})

    @staticmethod
    def field_files(item) -> list[dict]:
        """The request's file fields shown to requesters that hold a file (read from the record)."""
        record = item["record"]
        return [{"name": value.name, "url": file_url(item["module"].key, record.pk, spec.key)}
                for spec in item["files"] if (value := spec.get_value(record)) is not None]

    def deliverables(self, module_keys: dict[int, str]) -> dict[int, list]:
        """Files marked as deliverables on the listed requests ({record pk: module key}), in one query."""
        if not module_keys:
            return {}
        files: dict[int, list] = {}
        attachments = Attachment.objects.filter(
            org=self.request.org, record_type=ContentType.objects.get_for_model(TeamRecord),
            record_id__in=list(module_keys), deliverable=True, field_key="").order_by("-created_at")
        for attachment in attachments:
            url = reverse("crm:attachment_download", args=[module_keys[attachment.record_id], attachment.record_id,
                                                            attachment.pk])
            files.setdefault(attachment.record_id, []).append({"name": attachment.name, "url": url})
        return files


class RequestFormView(TeamView):
    """A new request (the module in the URL), or, with `pk`, the requester's change to one of
    theirs (refused with the reason while the team rules or a review keep it unchanged)."""

    template_name = "teams/request_form.html"
    audience = "requester"

    def dispatch(self, request, *args, **kwargs):
        self.record = self.decision = None
        return super().dispatch(request, *args, **kwargs)

    def load(self, pk: int) -> None:
        """The request through access (404 when it is not there, or not this user's)."""
        from access.decisions import decide
        from access.visibility import get_record

        schema = schema_for(self.module).bind(self.request.org)
        record = get_record(self.request.user, schema, pk, "view")
        if record.requested_by_id != self.request.user.pk:
            raise Http404
        self.record = record
        self.decision = decide(self.request.user, record, "edit", schema=schema, path=actions.REQUEST_PATH)

    def form(self, data=None, files=None):
        schema = schema_for(self.module).bind(self.request.org)
        allowed = requester_writable(schema)
        if self.record is None:
            hidden, read_only = module_field_rules(self.request.user, schema)
        else:
            hidden, read_only = self.decision.hidden, self.decision.read_only
        form = RecordForm(data, schema=schema, actor=self.request.user, record=self.record, hidden=hidden,
                          read_only=read_only)
        for key in list(form.fields):
            if key not in allowed and key not in ("version", form_tokens.FIELD):
                del form.fields[key]
        form.layout_hidden = frozenset()  # this page shows every field it offers: none is left out of the post
        return form

    def render_form(self, form, status: int = 200):
        from crm.modules import header_panels

        panels = header_panels(self.request.user, self.schema_of(), self.record) if self.record is not None else []
        blocked = self.decision.reason if self.decision is not None and not self.decision.allowed else ""
        return render(self.request, self.template_name, {"module": self.module, "form": form, "record": self.record,
                                                         "panels": panels, "blocked": blocked}, status=status)

    def schema_of(self):
        return schema_for(self.module).bind(self.request.org)

    def get(self, request, module_pk, pk=None):
        if pk is not None:
            self.load(pk)
        blocked = self.decision is not None and not self.decision.allowed
        return self.render_form(self.form(), status=403 if blocked else 200)

    def post(self, request, module_pk, pk=None):
        if pk is not None:
            self.load(pk)
            return self.change(request)
        form = self.form(request.POST)
        if form.is_valid():
            once = form_tokens.claim(request)  # the same form sent twice submits one request
            if once.repeated:
                return redirect(once.landing(reverse("teams:requests")))
            try:
                record = actions.do_submit_request(self.module, form.changes(), actor=request.user)
                once.done(record.get_absolute_url())
                messages.success(request, _("Request submitted to %(team)s.") % {"team": self.module.space})
                return redirect(record.get_absolute_url())
            except crm_actions.RecordValidationError as exc:
                once.release()
                form.add_action_errors(exc.message_dict)
            except PermissionDenied as exc:
                once.release()
                form.add_refusal(exc)
            except BaseException:
                once.release()
                raise
        return self.render_form(form, status=400)

    def change(self, request):
        form = self.form(request.POST)
        if form.is_valid():
            try:
                actions.do_update_request(self.record, form.changes(), version=form.cleaned_data["version"],
                                          actor=request.user)
                messages.success(request, _("Your request “%(title)s” was saved.") % {"title": self.record})
                return redirect("teams:requests")
            except crm_actions.RecordValidationError as exc:
                form.add_action_errors(exc.message_dict)
            except crm_actions.ConflictError as exc:
                form.add_error(None, str(exc))
            except PermissionDenied as exc:
                form.add_refusal(exc)
        return self.render_form(form, status=400)
