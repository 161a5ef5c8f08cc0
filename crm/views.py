"""Record pages for every module, driven by the module schema.

Views resolve their module and restrict every read through `access` in `dispatch`,
and write only through crm.actions."""
from __future__ import annotations

import copy
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django_tables2 import RequestConfig

from access.decisions import decide, decide_each, decide_module, decide_page, module_field_rules, require
from access.linked import linked_record
from access.visibility import can, get_record, is_org_admin, visible
from config.params import MAX_PAGE, bounded_int

from . import actions, form_tokens, selectors
from .file_forms import file_url
from .filters import build_filterset
from .forms import (AttachmentForm, BulkEditForm, FieldValueForm, NoteForm, OwnerForm, RecordForm,
                    chosen_versions)
from .models import Attachment, Note
from .modules import detail_panels, export_url, get_module, header_panels, list_actions, related_blocks
from .sharing import sharing_context
from .tables import build_table, read_for
from .timeline import for_viewer

PER_PAGE_CHOICES = (25, 50, 100)


class ModuleView(LoginRequiredMixin, View):
    """Resolves `module` from the URL and binds the org's schema; records only via access.

    Whether the user may use the page is the decision point's answer (`access.decide_module`
    for module pages, `access.decide` for record pages): a record or module that is not there
    for the user is a 404, a refusal by the access rules a 403 with the reason. A refusal by a
    guard (a lock, a team rule) is left to the page (shown disabled, with the reason) and to the
    action (which refuses the write and notes the attempt on the timeline)."""

    module_action = "open"  # the decision needed for the module's pages (routes without pk)
    record_action = "view"  # the decision needed on the record for pk routes

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.module = get_module(kwargs["module"], request.org)
        self.schema = self.module.bind(request.org)
        self.record = None
        self.decision = None
        if "pk" in kwargs:
            self.record = get_record(request.user, self.schema, kwargs["pk"], "view")
            self.decision = decide(request.user, self.record, self.record_action, schema=self.schema)
            if not self.decision.allowed and not self.decision.guard:
                require(self.decision)
        else:
            require(decide_module(request.user, self.schema, self.module_action))
        return super().dispatch(request, *args, **kwargs)

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"module": self.module, "schema": self.schema, "record": self.record, **extra}

    def refuse(self, exc: Exception) -> None:
        messages.error(self.request, reason_of(exc))


def reason_of(exc: Exception) -> str:
    """A refusal or validation error as a sentence for the user (never a dict or a list)."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc.args[0]) if exc.args else _("You may not do this.")


class RecordListView(ModuleView):
    template_name = "crm/record_list.html"

    def get(self, request, module):
        columns = self.chosen_columns()
        related, fields = read_for(self.schema, columns)
        base = visible(request.user, self.schema, "view").only(*fields)
        if related:  # select_related() with no names would join every relation
            base = base.select_related(*related)
        base = selectors.search(base, self.schema, request.GET.get("q", ""), request.user)
        filterset = build_filterset(self.schema, request.GET or None, base, request.user)
        # Valid filters apply; an invalid one is shown with its error and filters nothing.
        queryset = filterset.qs if filterset.is_bound else base
        # django-tables2 only sorts by its columns; this is the default order (and tie-break).
        queryset = queryset.order_by("-modified_at", "-pk")
        table = build_table(self.schema, columns, selectors.member_names(request.org), queryset,
                            order_by=request.GET.get("sort") or "-modified_at")
        # django-tables2 reads page and per_page from the query itself: give it bounded ones.
        query = request.GET.copy()
        query["per_page"] = str(bounded_int(request.GET.get("per_page"), default=25, low=1, high=100))
        query["page"] = str(bounded_int(request.GET.get("page"), default=1, low=1, high=MAX_PAGE))
        paging = copy.copy(request)
        paging.GET = query
        RequestConfig(paging, paginate={"paginator_class": selectors.BoundedCountPaginator}).configure(table)
        return render(request, self.template_name, self.context(
            table=table, filterset=filterset, columns=columns, all_fields=self.schema.fields_for(request.user),
            owner_form=OwnerForm(org=request.org), query=request.GET.get("q", ""),
            can_create=decide_module(request.user, self.schema, "create").allowed,
            export_url=export_url(self.schema) if decide_module(request.user, self.schema, "export").allowed else "",
            can_bulk_edit=decide_module(request.user, self.schema, "bulk_edit").allowed,
            can_change_owner=decide_module(request.user, self.schema, "change_owner").allowed,
            count_capped=getattr(table.paginator, "capped", False),
            list_actions=list_actions(request.user, self.schema),
        ))

    def chosen_columns(self):
        session_key = f"columns:{self.schema.key}"
        if "columns" in self.request.GET:
            keys = self.request.GET.getlist("columns")
            self.request.session[session_key] = keys
        else:
            keys = self.request.session.get(session_key)
        fields = {f.key: f for f in self.schema.fields_for(self.request.user)}
        if keys:
            chosen = [fields[k] for k in keys if k in fields]
            if chosen:
                return chosen
        return [f for f in self.schema.list_fields if f.key in fields]


class RecordDetailView(ModuleView):
    template_name = "crm/record_detail.html"

    def get(self, request, module, pk):
        from .recent import remember

        remember(request.user, self.schema.key, self.record.pk)  # for "Recently viewed" on My Work
        return render(request, self.template_name, self.detail_context())

    def detail_context(self, **extra: Any) -> dict[str, Any]:
        record = self.record
        record_type = ContentType.objects.get_for_model(record)
        user = self.request.user
        notes = self.module.notes_for(
            Note.objects.filter(org=self.request.org, record_type=record_type, record_id=record.pk), user)
        notes = notes.select_related("author").prefetch_related("mentions").order_by("-created_at")
        attachments = self.module.attachments_for(Attachment.objects.filter(
            org=self.request.org, record_type=record_type, record_id=record.pk, field_key=""), user)
        attachments = attachments.select_related("uploaded_by").order_by("-created_at")
        names = selectors.member_names(self.request.org)
        visible_fields = self.schema.fields_for(user)
        decisions = decide_page(user, record, schema=self.schema)
        fields = [(spec, self.display(spec, record, names), self.link(spec, record, user),
                   *self.inline_control(spec, decisions["edit"])) for spec in visible_fields]
        notes = list(notes)
        each = decide_each(user, record, {"edit_note": [{"note": n} for n in notes],
                                          "delete_note": [{"note": n} for n in notes]}, schema=self.schema)
        for note, edit, delete in zip(notes, each["edit_note"], each["delete_note"]):
            note.edit_decision, note.delete_decision = edit, delete
        return self.context(
            fields=fields, visible_fields=visible_fields, related=self.related_lists(),
            panels=detail_panels(user, self.schema, record), notes=notes, attachments=attachments,
            timeline=for_viewer(record, user, self.module, visible_fields), note_form=extra.pop("note_form", NoteForm()),
            attachment_form=extra.pop("attachment_form", AttachmentForm()),
            owner_form=OwnerForm(org=self.request.org, initial={"owner": record.owner_id}),
            decisions=decisions,
            **sharing_context(self.request, self.schema, record),
            header_panels=header_panels(user, self.schema, record),
            **extra,
        )

    def inline_control(self, spec, decision) -> tuple[bool, str]:
        """(whether the field gets an inline edit control, why not when a rule is the cause), from
        the record's edit decision: no query per field."""
        if not (decision.offered and spec.editable) or spec.key in decision.hidden:
            return False, ""
        reason = decision.read_only.get(spec.key) or ("" if decision.allowed else decision.reason)
        # A file is uploaded, replaced or cleared on the record's form (a multipart post).
        return not reason and spec.type != "file", reason

    def display(self, spec, record, names):
        if spec.is_custom and spec.type == "user":
            return names.get(spec.get_value(record), "")
        if spec.is_custom and spec.type == "lookup":
            linked = self.linked(spec, record)
            return linked.name if linked else ""
        return spec.display(record)

    def linked(self, spec, record):
        if spec.type != "lookup" or not spec.get_value(record):
            return None
        return linked_record(self.request.user, get_module(spec.target, self.request.org), spec.get_value(record))

    def link(self, spec, record, user) -> str:
        """A link to the looked-up record, only for a viewer who can open it; a file field's to its
        download (which checks again)."""
        if spec.type == "file":
            return file_url(self.schema.key, record.pk, spec.key) if spec.get_value(record) else ""
        linked = self.linked(spec, record)
        return reverse("crm:detail", args=[spec.target, spec.get_value(record)]) if linked and linked.can_open else ""

    def related_lists(self) -> list[dict[str, Any]]:
        lists = []
        for module_key, field in self.module.related:
            related = get_module(module_key, self.request.org)
            rows = (visible(self.request.user, related, "view").filter(**{f"{field}_id": self.record.pk})
                    .select_related(*related.select_related).order_by("-modified_at"))
            lists.append({"module": related, "rows": rows[:10], "field": field,
                          "all_url": reverse("crm:list", args=[related.key]) + f"?{field}={self.record.pk}"})
        tasks = get_module("tasks", self.request.org)
        if self.module.key != "tasks":
            record_type = ContentType.objects.get_for_model(self.record)
            rows = (visible(self.request.user, tasks, "view")
                    .filter(related_type=record_type, related_id=self.record.pk)
                    .select_related(*tasks.select_related).order_by("-modified_at"))
            lists.append({"module": tasks, "rows": rows[:10], "field": None,
                          "new_url": reverse("crm:create", args=["tasks"])
                          + f"?related_module={self.module.key}&related_pk={self.record.pk}"})
        return lists + related_blocks(self.request.user, self.schema, self.record)


class InlineFieldView(RecordDetailView):
    """One field of a record, shown as on its page (GET: also what "cancel" shows again) and saved
    in place (POST, from the form of InlineFieldEditView) through `actions.do_update_record` with
    the path "inline". A refused or invalid write answers with the form and the reason next to the
    field, and changes nothing. Fragments for htmx; the record is resolved through `access` in
    `dispatch` like every record page, so another org's or an invisible record is a 404."""

    value_template = "crm/includes/field_value.html"
    saved_template = "crm/includes/field_saved.html"
    form_template = "crm/includes/field_form.html"

    def field(self, field_key: str):
        """A field the user may see (hidden fields do not exist for them)."""
        spec = next((spec for spec in self.schema.fields_for(self.request.user) if spec.key == field_key), None)
        if spec is None:
            raise Http404
        return spec

    def edit_decision(self):
        return decide(self.request.user, self.record, "edit", schema=self.schema, path="inline")

    def show(self, spec, *, error: str = "", status: int = 200, focus: bool = False,
             decision=None, saved: bool = False):
        names = selectors.member_names(self.request.org) if spec.is_custom and spec.type == "user" else {}
        inline, lock_reason = self.inline_control(spec, decision or self.edit_decision())
        record = self.record
        extra = {}
        if saved:  # the "Modified" line and the timeline changed too: sent along, swapped out of band
            fields = self.schema.fields_for(self.request.user)
            extra = {"timeline": for_viewer(record, self.request.user, self.module, fields), "visible_fields": fields}
        return render(self.request, self.saved_template if saved else self.value_template, self.context(
            spec=spec, value=self.display(spec, record, names), url=self.link(spec, record, self.request.user),
            inline=inline, lock_reason=lock_reason, error=error, focus=focus, **extra), status=status)

    def edit_form(self, form: FieldValueForm, errors: list[str] | tuple[str, ...] = (), status: int = 200):
        spec = form.spec
        messages_ = [_("“%(field)s” was not saved: %(reason)s") % {"field": spec.label, "reason": message}
                     for message in errors]
        return render(self.request, self.form_template, self.context(spec=spec, form=form, errors=messages_),
                      status=status)

    def get(self, request, module, pk, field_key):
        return self.show(self.field(field_key))

    def post(self, request, module, pk, field_key):
        spec = self.field(field_key)
        form = FieldValueForm(request.POST, schema=self.schema, actor=request.user, record=self.record, spec=spec)
        if not form.is_valid():
            return self.edit_form(form, [m for messages_ in form.errors.values() for m in messages_], status=400)
        before = self.page_signature()
        try:
            record = actions.do_update_record(self.record, form.changes(), version=form.cleaned_data["version"],
                                              actor=request.user, path="inline", schema=self.schema)
        except actions.RecordValidationError as exc:
            return self.edit_form(form, [m for messages_ in exc.message_dict.values() for m in messages_], status=400)
        except actions.ConflictError as exc:
            return self.edit_form(form, [str(exc)], status=409)
        except PermissionDenied as exc:
            return self.edit_form(form, [str(exc.args[0]) if exc.args else _("You may not do this.")], status=403)
        # Read back as stored (decimals with their places, lookups by name), through access as ever.
        self.record = get_record(request.user, self.schema, record.pk, "view")
        after = self.page_signature()
        response = self.show(spec, focus=True, decision=after[0], saved=True)
        if after != before:
            # The change locked or unlocked the record: the badges and the other controls change too.
            response["HX-Refresh"] = "true"
        return response


    def page_signature(self) -> tuple:
        """What the rest of the record's page shows of its rules: the edit decision and the panels."""
        return self.edit_decision(), header_panels(self.request.user, self.schema, self.record)


class InlineFieldEditView(InlineFieldView):
    """The one-field form, for a field the user may change here; else the value again, with why not."""

    http_method_names = ["get"]

    def get(self, request, module, pk, field_key):
        spec = self.field(field_key)
        editable, reason = self.inline_control(spec, self.edit_decision())
        if not editable:
            message = _("You may not change the field “%(field)s”.") % {"field": spec.label}
            return self.show(spec, error=f"{message} {reason}".strip(), status=403)
        return self.edit_form(FieldValueForm(schema=self.schema, actor=request.user, record=self.record, spec=spec))


class RecordFormView(ModuleView):
    template_name = "crm/record_form.html"
    record_action = "edit"

    module_action = "create"

    def field_context(self) -> tuple[frozenset[str], dict[str, str], str]:
        """(hidden fields, read-only fields -> the reason, why the record cannot be edited at all),
        from the record's edit decision (a new record: the field rules before there is one)."""
        if self.record is None:
            return (*module_field_rules(self.request.user, self.schema), "")
        decision = self.decision
        return decision.hidden, decision.read_only, "" if decision.allowed else decision.reason

    def get(self, request, module, pk=None):
        if self.record is None:
            self.related_source()  # a link to a record out of reach is a 404 here already
        hidden, read_only, blocked = self.field_context()
        form = RecordForm(schema=self.schema, actor=request.user, record=self.record, read_only=read_only,
                          hidden=hidden)
        return render(request, self.template_name, self.context(form=form, blocked=blocked),
                      status=403 if blocked else 200)

    def post(self, request, module, pk=None):
        hidden, read_only, blocked = self.field_context()
        # A task made from another record's page is linked to it: that record is resolved (through
        # access, 404 if out of reach) before anything is written.
        source = self.related_source() if self.record is None else None
        if blocked:
            # A record refused as a whole keeps its fields as posted (but those read-only before
            # there is a record): the action refuses the write with the reason and keeps the refused
            # attempt on the timeline.
            read_only = module_field_rules(request.user, self.schema)[1]
        form = RecordForm(request.POST, request.FILES, schema=self.schema, actor=request.user, record=self.record,
                          read_only=read_only, hidden=hidden)
        if form.is_valid():
            try:
                if self.record is None:
                    return self.create(form, source)
                record = actions.do_update_record(self.record, form.changes(), version=form.cleaned_data["version"],
                                                  actor=request.user, path="page", schema=self.schema)
                messages.success(request, _("Changes saved."))
                return redirect(record.get_absolute_url())
            except actions.RecordValidationError as exc:
                form.add_action_errors(exc.message_dict)
            except actions.ConflictError as exc:
                form.add_error(None, str(exc))
            except PermissionDenied as exc:
                form.add_refusal(exc)
        return render(request, self.template_name, self.context(form=form), status=400)

    def create(self, form: RecordForm, source: Any):
        """Create (and link to `source`) in one transaction, once per form token: a second submit
        of the same form lands on what the first one created."""
        once = form_tokens.claim(self.request)
        if once.repeated:
            return redirect(once.landing(reverse("crm:list", args=[self.module.key])))
        try:
            with transaction.atomic():
                record = actions.do_create_record(self.schema, form.changes(), actor=self.request.user, path="page")
                if source is not None:
                    actions.do_link_task(record, source, actor=self.request.user, path="page")
        except BaseException:
            once.release()
            raise
        target = source.get_absolute_url() if source is not None else record.get_absolute_url()
        once.done(target)
        messages.success(self.request, _("%(module)s created.") % {"module": self.module.label})
        return redirect(target)

    def related_source(self):
        """The record a new task is made from (`?related_module=&related_pk=`), or None."""
        source_module, source_pk = self.request.GET.get("related_module"), self.request.GET.get("related_pk")
        if self.module.key != "tasks" or not source_module or not source_pk:
            return None
        return get_record(self.request.user, get_module(source_module, self.request.org), source_pk, "view")


class RecordDeleteView(ModuleView):
    template_name = "crm/record_confirm_delete.html"
    record_action = "delete"

    def get(self, request, module, pk):
        refusal = "" if self.decision.allowed else self.decision.reason
        return render(request, self.template_name, self.context(refusal=refusal), status=403 if refusal else 200)

    def post(self, request, module, pk):
        try:
            actions.do_delete_record(self.record, version=request.POST.get("version"), actor=request.user,
                                     path="page")
        except (PermissionDenied, actions.RecordValidationError, actions.ConflictError) as exc:
            self.refuse(exc)
            return redirect(self.record.get_absolute_url())
        messages.success(request, _("Moved to the recycle bin. An administrator can restore it within 30 days."))
        return redirect("crm:list", module=self.module.key)


class ChangeOwnerView(ModuleView):
    module_action = "change_owner"
    record_action = "change_owner"

    def post(self, request, module, pk=None):
        form = OwnerForm(request.POST, org=request.org)
        # Each record with the version its page showed ("pk:version" from the list's checkboxes).
        if self.record:
            versions = {self.record.pk: request.POST.get("version")}
        else:
            versions = chosen_versions(request.POST.getlist("ids"))
        target = self.record.get_absolute_url() if self.record else reverse("crm:list", args=[self.module.key])
        if not form.is_valid() or not versions:
            messages.error(request, _("Choose records and an active user as the new owner."))
            return HttpResponseRedirect(target)
        try:
            rows = actions.do_bulk_change_owner(self.schema, versions, form.cleaned_data["owner"].pk,
                                                actor=request.user, path="page")
        except (PermissionDenied, actions.RecordValidationError, actions.ConflictError) as exc:
            self.refuse(exc)
            return HttpResponseRedirect(target)
        messages.success(request, _("Owner changed on %(count)d records.") % {"count": len(rows)})
        if self.record and not can(request.user, self.schema, self.record, "view"):
            return redirect("crm:list", module=self.module.key)
        return HttpResponseRedirect(target)


class BulkEditView(ModuleView):
    """Set one field on the records chosen in the list (GET: choose the field; POST: apply)."""

    template_name = "crm/bulk_edit.html"
    module_action = "bulk_edit"

    def form(self, data: Any) -> BulkEditForm:
        # Kept as "pk:version", as the list page sent them, until the action checks the versions
        # (an id that is not one is a 400 here already).
        ids = list(dict.fromkeys(data.getlist("ids")))
        chosen_versions(ids)
        return BulkEditForm(data if self.request.method == "POST" else None, schema=self.schema,
                            actor=self.request.user, ids=ids, field_key=data.get("field", ""),
                            initial={"ids": ids, "field": data.get("field", "")})

    def get(self, request, module):
        form = self.form(request.GET)
        if not form.fields["ids"].choices:
            messages.error(request, _("Choose at least one record."))
            return redirect("crm:list", module=self.module.key)
        return render(request, self.template_name, self.context(form=form, count=len(form.fields["ids"].choices)))

    def post(self, request, module):
        form = self.form(request.POST)
        count = len(form.fields["ids"].choices)
        if form.spec is None or not form.is_valid():
            if form.spec is None:
                form.add_error("field", _("Choose a field you may change."))
            return render(request, self.template_name, self.context(form=form, count=count), status=400)
        try:
            rows = actions.do_bulk_edit_records(self.schema, chosen_versions(form.cleaned_data["ids"]),
                                                form.changes(), actor=request.user, path="bulk")
        except actions.RecordValidationError as exc:
            for key, errors in exc.message_dict.items():
                for message in errors:
                    form.add_error("value" if key == form.spec.key else None, message)
            return render(request, self.template_name, self.context(form=form, count=count), status=400)
        except actions.ConflictError as exc:
            form.add_error(None, str(exc))
            return render(request, self.template_name, self.context(form=form, count=count), status=409)
        except PermissionDenied as exc:
            if getattr(exc, "field", ""):  # a rule on the records' values (validation): shown under the value
                form.add_error("value", str(exc))
            else:
                self.refuse(exc)
            return render(request, self.template_name, self.context(form=form, count=count), status=403)
        messages.success(request, _("“%(field)s” changed on %(count)d records.")
                         % {"field": form.spec.label, "count": len(rows)})
        return redirect("crm:list", module=self.module.key)


class NoteView(ModuleView):
    record_action = "add_note"

    def post(self, request, module, pk):
        target = self.record.get_absolute_url() + "#notes"
        form = NoteForm(request.POST)
        if not form.is_valid():
            messages.error(request, note_error(form))
            return redirect(target)
        once = form_tokens.claim(request)
        if once.repeated:  # the same form sent again: the note is there already
            return redirect(target)
        try:
            actions.do_add_note(self.record, form.cleaned_data["body"], actor=request.user, path="page")
        except (PermissionDenied, actions.RecordValidationError) as exc:
            once.release()
            self.refuse(exc)
        except BaseException:
            once.release()
            raise
        else:
            once.done(target)
        return redirect(target)


def note_error(form: NoteForm) -> str:
    """Why a note was not saved: empty, or too long (with the limit), as the form found it."""
    if not form.data.get("body", "").strip():
        return _("A note cannot be empty.")
    return " ".join(form.errors.get("body", [])) or _("A note cannot be empty.")


class NoteEditView(ModuleView):
    """Change a note's text (its author or an administrator), from the record's page."""

    def post(self, request, module, pk, note_pk):
        note = _note_of(request, self.record, note_pk, self.module)
        form = NoteForm(request.POST)
        if not form.is_valid():
            messages.error(request, note_error(form))
            return redirect(self.record.get_absolute_url() + "#notes")
        try:
            actions.do_update_note(note, form.cleaned_data["body"], actor=request.user, path="page")
        except (PermissionDenied, actions.RecordValidationError) as exc:
            self.refuse(exc)
        else:
            messages.success(request, _("Note saved."))
        return redirect(self.record.get_absolute_url() + "#notes")


def _note_of(request, record, note_pk, module) -> Note:
    """A note of this record that the user may read, else 404."""
    notes = Note.objects.filter(org=request.org, pk=note_pk, record_id=record.pk,
                                record_type=ContentType.objects.get_for_model(record))
    note = module.notes_for(notes, request.user).first()
    if note is None:
        raise Http404
    return note


class NoteDeleteView(ModuleView):
    def post(self, request, module, pk, note_pk):
        note = _note_of(request, self.record, note_pk, self.module)  # a note one may not read is missing
        try:
            actions.do_delete_note(note, actor=request.user, path="page")
        except PermissionDenied as exc:
            self.refuse(exc)
        return redirect(self.record.get_absolute_url() + "#notes")


class AttachmentUploadView(ModuleView):
    record_action = "add_attachment"

    def post(self, request, module, pk):
        form = AttachmentForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                actions.do_add_attachment(self.record, form.cleaned_data["file"], actor=request.user, path="page",
                                          deliverable=form.cleaned_data["deliverable"])
            except (PermissionDenied, actions.RecordValidationError) as exc:
                self.refuse(exc)
        else:
            messages.error(request, " ".join(form.errors.get("file", [])) or _("Choose a file to upload."))
        return redirect(self.record.get_absolute_url() + "#attachments")


class AttachmentDeleteView(ModuleView):
    record_action = "delete_attachment"

    def post(self, request, module, pk, attachment_pk):
        attachment = _attachment_of(request, self.record, attachment_pk)
        try:
            actions.do_delete_attachment(attachment, actor=request.user, path="page")
        except PermissionDenied as exc:
            self.refuse(exc)
        return redirect(self.record.get_absolute_url() + "#attachments")


def _attachment_of(request, record, attachment_pk, module=None) -> Attachment:
    """One of the record's attachments the user may see (a file field's file is not one: it is
    downloaded and changed as the field, crm.file_views), else 404."""
    attachments = Attachment.objects.filter(org=request.org, pk=attachment_pk, record_id=record.pk,
                                            record_type=ContentType.objects.get_for_model(record), field_key="")
    if module is not None:
        attachments = module.attachments_for(attachments, request.user)
    attachment = attachments.first()
    if attachment is None:
        raise Http404
    return attachment


class AttachmentDownloadView(ModuleView):
    """Files are served only here, after the record's access check."""

    def get(self, request, module, pk, attachment_pk):
        attachment = _attachment_of(request, self.record, attachment_pk, self.module)
        return FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.name)


class RecycleBinView(LoginRequiredMixin, View):
    template_name = "crm/recycle_bin.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_org_admin(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        from .modules import all_modules

        groups = []
        for module in all_modules(request.org):  # org modules, then team modules
            schema = module.bind(request.org)
            rows = list(visible(request.user, schema, "view", deleted=True).select_related("deleted_by")
                        .order_by("-deleted_at", "-pk")[:200])
            if rows or module.kind == "org":  # a team module shows up when it has something to restore
                groups.append({"module": module, "rows": rows})
        return render(request, self.template_name, {"groups": groups})

    def post(self, request):
        module = get_module(request.POST.get("module", ""), request.org)
        record = get_record(request.user, module, request.POST.get("pk"), "view", deleted=True)
        try:
            actions.do_restore_record(record, actor=request.user, path="page")
            messages.success(request, _("Record restored."))
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        return redirect("crm:recycle_bin")
