"""Merging duplicates: one action, `do_merge_records`, in one transaction.

The survivor takes the chosen values through `crm.actions.do_update_record` (path "merge": field
permissions, locks, blueprints, validation and automation apply as to any edit); the others go to
the recycle bin through `crm.actions.do_delete_record` (restorable). What hangs off the others is
moved to the survivor: notes, attached files, timeline entries, tasks related to them, records of
org and team modules whose lookups point at them (with a timeline entry on each), and manual
shares (when the actor may manage the survivor's shares). The survivor gets a "merged" entry
naming the merged records; each other record a "merged_into" entry naming the survivor.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from access.decisions import decide
from access.models import User
from access.share_actions import do_share_record, may_manage_shares
from access.shares import READ_WRITE, record_shares
from access.visibility import visible
from crm import timeline
from crm.actions import (RecordValidationError, bound_schema, check_version, do_delete_record, do_update_record,
                         record_refusals)
from crm.file_values import NewFile, StoredFile
from crm.models import Attachment, Note, RecordLink, Task, TimelineEntry
from crm.modules import org_modules

from .selectors import MAX_MERGED

PATH = "merge"


def _ref(record: Any) -> dict[str, Any]:
    return {"id": record.pk, "name": str(record)}


def _refuse(record: Any, decision: Any) -> PermissionDenied:
    if not decision.found:
        return PermissionDenied(_("Record not found."))
    return PermissionDenied(_("“%(record)s”: %(reason)s") % {"record": record, "reason": decision.reason})


def _file_copy(record: Any, value: StoredFile) -> NewFile | None:
    """A chosen file of another record, as a new upload for the survivor (the other record keeps
    its own file, so a restore from the recycle bin finds it)."""
    row = Attachment.objects.filter(org_id=record.org_id, record_type=ContentType.objects.get_for_model(record),
                                    record_id=record.pk, pk=value.id).first()
    if row is None or not row.file:
        return None
    with row.file.open("rb") as handle:
        return NewFile(ContentFile(handle.read(), name=row.name))


def _changes(schema: Any, survivor: Any, by_pk: dict[int, Any], choices: dict[str, Any], decision: Any) -> dict:
    """The survivor's new values from `choices` ({field key: the pk of the record whose value
    wins}); every bad choice names its field."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for key, chosen in (choices or {}).items():
        try:
            spec = schema.field(key)
        except KeyError:
            errors.setdefault("__all__", []).append(_("Unknown field “%(field)s”.") % {"field": key})
            continue
        if key in decision.hidden or not spec.editable:
            errors.setdefault(key, []).append(_("This field cannot be changed here."))
            continue
        try:
            source = by_pk[int(chosen)]
        except (KeyError, TypeError, ValueError):
            errors.setdefault(key, []).append(_("Choose one of the merged records for “%(field)s”.")
                                              % {"field": spec.label})
            continue
        value, current = spec.get_value(source), spec.get_value(survivor)
        if source.pk == survivor.pk or value == current or (value in (None, "", []) and current in (None, "", [])):
            continue
        if key in decision.read_only:
            errors.setdefault(key, []).append(decision.read_only[key])
            continue
        if spec.type == "file" and isinstance(value, StoredFile):
            value = _file_copy(source, value)
        changes[key] = value
    if errors:
        raise RecordValidationError(errors)
    return changes


def _move_attached(survivor: Any, record_type: Any, others: list[int]) -> dict[str, int]:
    """Notes, attached files (not the files of file fields: those are the other record's values)
    and timeline entries of the others, now the survivor's."""
    scope = {"org_id": survivor.org_id, "record_type": record_type, "record_id__in": others}
    return {
        "notes": Note.objects.filter(**scope).update(record_id=survivor.pk),
        "files": Attachment.objects.filter(field_key="", **scope).update(record_id=survivor.pk),
        "timeline": TimelineEntry.objects.filter(**scope).update(record_id=survivor.pk),
    }


def _repoint(rows: list[Any], set_value: Any, key: str, old_of: Any, survivor: Any, actor: User) -> None:
    """Point `rows` at the survivor (their version moves on) with one timeline entry each."""
    fields: set[str] = {"version"}
    entries = []
    for row in rows:
        old = old_of(row)
        fields |= set(set_value(row))
        row.version += 1
        entries.append(timeline.entry(row, kind="updated", actor=actor, path=PATH,
                                      changes={key: [old, _ref(survivor)]}))
    if rows:
        type(rows[0]).objects.bulk_update(rows, sorted(fields))
        timeline.write_many(entries)


def _move_links(schema: Any, survivor: Any, others: dict[int, Any], record_type: Any, actor: User) -> int:
    """Records whose lookups point at the others now point at the survivor: org modules' lookup
    columns (a contact's account), JSON lookups of org and team modules (kept in RecordLink), and
    tasks related to them. The merged records themselves are left as they are."""
    merged = set(others) | {survivor.pk}
    moved = 0
    org = survivor.org_id
    for module in org_modules():
        for spec in module.core_fields:
            if spec.type != "lookup" or spec.target != schema.key:
                continue
            rows = list(module.model.objects.filter(org_id=org, **{f"{spec.key}_id__in": list(others)})
                        .exclude(pk__in=merged if module.model is schema.model else [])
                        .select_for_update(of=("self",)).order_by("pk"))
            olds = {row.pk: _ref(others[getattr(row, f"{spec.key}_id")]) for row in rows}

            def set_column(row: Any, key: str = spec.key) -> list[str]:
                setattr(row, f"{key}_id", survivor.pk)
                return [f"{key}_id"]

            _repoint(rows, set_column, spec.key, lambda row: olds[row.pk], survivor, actor)
            moved += len(rows)
    links = list(RecordLink.objects.filter(org_id=org, target_type=record_type, target_id__in=list(others))
                 .select_related("field", "source_type").order_by("pk"))
    by_field: dict[tuple[Any, Any], list[RecordLink]] = defaultdict(list)
    for link in links:
        by_field[(link.source_type, link.field)].append(link)
    for (source_type, definition), group in by_field.items():
        model = source_type.model_class()
        old_of_source = {link.source_id: _ref(others[link.target_id]) for link in group}
        rows = list(model.objects.filter(org_id=org, pk__in=list(old_of_source))
                    .exclude(pk__in=merged if model is schema.model else [])
                    .select_for_update(of=("self",)).order_by("pk"))
        key, column = definition.key, definition.json_column

        def set_json(row: Any, key: str = key, column: str = column) -> list[str]:
            setattr(row, column, {**(getattr(row, column) or {}), key: survivor.pk})
            return [column]

        _repoint(rows, set_json, key, lambda row: old_of_source[row.pk], survivor, actor)
        RecordLink.objects.filter(pk__in=[link.pk for link in group if link.source_id in {r.pk for r in rows}]
                                  ).update(target_id=survivor.pk)
        moved += len(rows)
    tasks = list(Task.objects.filter(org_id=org, related_type=record_type, related_id__in=list(others))
                 .exclude(pk__in=merged if schema.model is Task else []).select_for_update(of=("self",)).order_by("pk"))
    olds = {task.pk: _ref(others[task.related_id]) for task in tasks}

    def set_related(row: Any) -> list[str]:
        row.related_id = survivor.pk
        return ["related_id"]

    _repoint(tasks, set_related, "related", lambda row: olds[row.pk], survivor, actor)
    return moved + len(tasks)


def _move_shares(schema: Any, survivor: Any, others: list[Any], actor: User) -> int:
    """The others' manual shares, given on the survivor (the higher access when both had one);
    only when the actor may manage the survivor's shares, else they stay with the others."""
    if not may_manage_shares(actor, schema.org, survivor):
        return 0
    have = {share.key: share.access for share in record_shares(survivor)}
    moved = 0
    for other in others:
        for share in record_shares(other):
            if share.user is not None and share.user.pk == survivor.owner_id:
                continue
            if have.get(share.key) in (READ_WRITE, share.access):
                continue
            do_share_record(schema.org, schema.key, survivor, user=share.user, group=share.group,
                            access=share.access, actor=actor)
            have[share.key] = share.access
            moved += 1
    return moved


@record_refusals
@transaction.atomic
def do_merge_records(survivor: Any, others: list[Any], choices: dict[str, Any], *, actor: User,
                     versions: dict[int, int] | None = None, path: str = PATH) -> Any:
    """Merge `others` (one or two records of the survivor's module) into `survivor`. `choices`
    maps field keys to the pk of the record whose value wins (a field left out keeps the
    survivor's value); `versions` the versions the user saw ({pk: version}; a stale one is a
    conflict). Allowed to whoever may edit the survivor and edit and delete each other record; a lock, a
    pending approval or a review refuses with its reason, and nothing is written."""
    schema = bound_schema(survivor, actor.org)
    ids = [getattr(survivor, "pk", None)] + [getattr(other, "pk", None) for other in others]
    if not others:
        raise RecordValidationError({"ids": [_("Choose at least two records to merge.")]})
    if len(ids) > MAX_MERGED:
        raise RecordValidationError({"ids": [_("Merge at most %(count)d records at once.") % {"count": MAX_MERGED}]})
    if None in ids or len(set(ids)) != len(ids):
        raise RecordValidationError({"ids": [_("Choose different records: the same record is named twice.")]})
    if any(bound_schema(other, actor.org).key != schema.key for other in others):
        raise RecordValidationError({"ids": [_("Only records of the same module can be merged.")]})
    # Row locks in a fixed order (pk), so two merges of overlapping records cannot deadlock.
    rows = {row.pk: row for row in visible(actor, schema, "view", listing=False)
            .select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")}
    if len(rows) != len(ids):
        raise PermissionDenied(_("Record not found."))
    current, losers = rows[ids[0]], [rows[pk] for pk in ids[1:]]
    edit = decide(actor, current, "edit", schema=schema, path=path)
    if not edit.allowed:
        raise _refuse(current, edit)
    for loser in losers:
        # Merged away = deleted, and changed first (its notes, files and history leave it): a
        # lock on it refuses as it would refuse an edit.
        for action in ("delete", "edit"):
            refusal = decide(actor, loser, action, schema=schema, path=path)
            if not refusal.allowed:
                raise _refuse(loser, refusal)
    changes = _changes(schema, current, rows, choices, edit)
    versions = {int(pk): version for pk, version in (versions or {}).items()}
    for row in rows.values():
        check_version(row, versions.get(row.pk, row.version), named=True)
    record_type = ContentType.objects.get_for_model(current)
    loser_ids = [loser.pk for loser in losers]
    # The others' history first, so the entries written below stay on their own record.
    counts = _move_attached(current, record_type, loser_ids)
    for loser in losers:
        timeline.write(loser, kind="merged_into", actor=actor, path=path, changes={"merged_into": [None, _ref(current)]})
        # Deleted before the survivor takes their values, so a unique field's value can move.
        do_delete_record(loser, version=loser.version, actor=actor, path=path)
    if changes:
        current = do_update_record(current, changes, version=current.version, actor=actor, path=path, schema=schema)
    counts["related"] = _move_links(schema, current, {loser.pk: loser for loser in losers}, record_type, actor)
    counts["shares"] = _move_shares(schema, current, losers, actor)
    timeline.write(current, kind="merged", actor=actor, path=path, changes={
        "merged": [None, ", ".join(f"{loser} (#{loser.pk})" for loser in losers)]})
    current.merge_counts = counts  # what moved, for the page's message
    return current
